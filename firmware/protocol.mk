# Serial protocol builds (firmware/PROTOCOL.md). Run from firmware/: make -f protocol.mk -j1 <target>
#
#   host-board     build/hostboard/esnn_board (+ _asan): the host board (ports/host/Makefile)
#   m4             build/protocol-m4/libesnn_proto.a for Cortex-M4 + size report
#   check-noalloc  the protocol needs nothing but the runtime API, memcpy/memset/strlen; .data + .bss = 0

B          := build/protocol-m4
STD        := -std=c99 -Wall -Wextra -Werror -pedantic
ARM_PREFIX ?= arm-none-eabi-
M4_FLAGS   := -mcpu=cortex-m4 -mthumb -O2 -ffunction-sections -fdata-sections
SRC        := $(sort $(wildcard protocol/*.c))
OBJ        := $(patsubst protocol/%.c,$(B)/%.o,$(SRC))
ALLOWED    := memcpy memset strlen

.PHONY: host-board m4 check-noalloc
host-board:
	$(MAKE) -C ports/host all

m4: $(B)/libesnn_proto.a
$(B)/%.o: protocol/%.c $(wildcard protocol/*.h) runtime/esnn.h runtime/esnn_bytes.h runtime/esnn_format.h
	@mkdir -p $(@D)
	$(ARM_PREFIX)gcc $(STD) $(M4_FLAGS) -Iruntime -Iprotocol -c -o $@ $<
$(B)/libesnn_proto.a: $(OBJ)
	rm -f $@
	$(ARM_PREFIX)ar rcs $@ $^
	$(ARM_PREFIX)size -t $@

check-noalloc: $(B)/libesnn_proto.a
	@bad=$$($(ARM_PREFIX)nm -u $< | awk 'NF==2 {print $$2}' | sort -u | grep -v '^esnn_' \
	  | grep -vxF $(foreach s,$(ALLOWED),-e $(s)) || true); \
	if [ -n "$$bad" ]; then echo "check-noalloc: protocol needs: $$bad"; exit 1; fi
	@$(ARM_PREFIX)size -t $< | awk '/TOTALS/ { if ($$2 != 0 || $$3 != 0) { print "check-noalloc: protocol has RAM: data " $$2 " bss " $$3; exit 1 } else print "check-noalloc: ok (protocol text " $$1 " B, data 0, bss 0)" }'
