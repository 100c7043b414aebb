# Shared rules of the microcontroller board ports: included by ports/<board>/Makefile, run from that
# folder (make -C firmware/ports/<board> board MODEL=path/model.esnn [OUT=dir] [PAYLOAD_CAP=N] [ARENA_BUDGET=BYTES]).
#
# The port sets:  BOARD (name), PORT_SRC (startup + drivers), LDSCRIPT, CPU_FLAGS, PAYLOAD_CAP; optionally
# EXTRA_OBJ (per-image objects it builds itself) and LDFLAGS_EXTRA (e.g. --defsym limits for LDSCRIPT).
# Outputs:  $(OUT)/esnn_board.elf, $(OUT)/esnn_board.bin (flash image), $(OUT)/size.txt (key=value), and a
# one-line size report on stdout: flash = code + model + .data init, RAM = .data + .bss (arena, buffers,
# stack). The runtime and protocol objects are shared by all models in $(B)/obj; a model costs one compile
# of board_main.c and a link. The linker fails when the image does not fit the part's flash or RAM.

FW          := ../..
COMMON      := ../common
B           := $(FW)/build/board-$(BOARD)
STD         := -std=c99 -Wall -Wextra -Werror -pedantic
ARM_PREFIX  ?= arm-none-eabi-
ARM_CC      := $(ARM_PREFIX)gcc
ARM_SIZE    := $(ARM_PREFIX)size
ARM_NM      := $(ARM_PREFIX)nm
ARM_OBJCOPY := $(ARM_PREFIX)objcopy
HOST_CC     ?= cc
CFLAGS_ARM  := $(STD) $(CPU_FLAGS) -O2 -ffunction-sections -fdata-sections
LDFLAGS_ARM := $(CPU_FLAGS) -nostartfiles --specs=nano.specs --specs=nosys.specs -T $(LDSCRIPT) -Wl,--gc-sections

RT_SRC      := $(sort $(wildcard $(FW)/runtime/*.c)) $(sort $(wildcard $(FW)/runtime/kernels/*.c))
LIB_SRC     := $(RT_SRC) $(sort $(wildcard $(FW)/protocol/*.c))
LIB_HDR     := $(wildcard $(FW)/runtime/*.h $(FW)/runtime/kernels/*.h $(FW)/protocol/*.h)
LIB_OBJ     := $(patsubst $(FW)/%.c,$(B)/obj/%.o,$(LIB_SRC))
PORT_OBJ    := $(patsubst %,$(B)/obj/port/%.o,$(basename $(PORT_SRC)))
INC         := -I$(FW)/runtime -I$(FW)/protocol -I$(COMMON)

MODEL       ?=
OUT         ?= $(B)/$(basename $(notdir $(MODEL)))
PAYLOAD_CAP ?= 16384

.PHONY: board lib check-model clean
.DELETE_ON_ERROR:
board: check-model $(OUT)/esnn_board.elf
lib: $(LIB_OBJ) $(PORT_OBJ)

check-model:
	@if [ -z "$(MODEL)" ]; then echo "usage: make board MODEL=path/model.esnn [OUT=dir]"; exit 2; fi
	@if [ ! -f "$(MODEL)" ]; then echo "$(MODEL): no such model file"; exit 2; fi

$(B)/obj/%.o: $(FW)/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(ARM_CC) $(CFLAGS_ARM) $(INC) -c -o $@ $<

# Code that runs once per model (validation, the arena plan, init): optimised for size, not speed; the
# kernels and the scheduler keep -O2.
LOAD_OBJ    := $(patsubst $(FW)/%.c,$(B)/obj/%.o,$(FW)/runtime/esnn.c $(FW)/runtime/loader.c $(FW)/runtime/plan.c)
$(LOAD_OBJ): CFLAGS_ARM := $(STD) $(CPU_FLAGS) -Os -ffunction-sections -fdata-sections

$(B)/obj/port/%.o: %.c $(wildcard $(COMMON)/*.h) $(LIB_HDR)
	@mkdir -p $(@D)
	$(ARM_CC) $(CFLAGS_ARM) $(INC) -c -o $@ $<

$(B)/obj/port/%.o: %.S
	@mkdir -p $(@D)
	$(ARM_CC) $(CPU_FLAGS) -c -o $@ $<

# Host tool: the model's buffer sizes, from the runtime's own loader.
$(B)/board_config: $(COMMON)/board_config.c $(RT_SRC) $(LIB_HDR)
	@mkdir -p $(@D)
	$(HOST_CC) $(STD) -O1 -I$(FW)/runtime -o $@ $(COMMON)/board_config.c $(RT_SRC)

$(OUT)/board_config.h: $(MODEL) $(B)/board_config
	@mkdir -p $(@D)
	$(B)/board_config $(MODEL) $(PAYLOAD_CAP) $(ARENA_BUDGET) > $@.tmp && mv $@.tmp $@

$(OUT)/model_blob.o: $(COMMON)/model_blob.S $(MODEL)
	@mkdir -p $(@D)
	$(ARM_CC) $(CPU_FLAGS) -DESNN_MODEL_FILE='"$(abspath $(MODEL))"' -c -o $@ $<

$(OUT)/board_main.o: $(COMMON)/board_main.c $(COMMON)/board.h $(OUT)/board_config.h $(LIB_HDR)
	$(ARM_CC) $(CFLAGS_ARM) $(INC) -I$(OUT) -c -o $@ $<

$(OUT)/esnn_board.elf: $(OUT)/board_main.o $(OUT)/model_blob.o $(EXTRA_OBJ) $(PORT_OBJ) $(LIB_OBJ) $(LDSCRIPT)
	$(ARM_CC) $(LDFLAGS_ARM) $(LDFLAGS_EXTRA) -Wl,-Map=$(OUT)/esnn_board.map -o $@ $(OUT)/board_main.o \
	  $(OUT)/model_blob.o $(EXTRA_OBJ) $(PORT_OBJ) $(LIB_OBJ)
	$(ARM_OBJCOPY) -O binary $@ $(OUT)/esnn_board.bin
	@set -e; set -- $$($(ARM_SIZE) -B $@ | awk 'NR==2 {print $$1, $$2, $$3}'); \
	model=$$(wc -c < $(MODEL) | tr -d ' '); \
	arena=$$($(ARM_NM) -t d -S $@ | awk '$$4 == "g_arena" {print $$2 + 0}'); \
	stack=$$($(ARM_NM) -t d $@ | awk '$$3 == "__stack_size" {print $$1 + 0}'); \
	limit=$$($(ARM_NM) -t d $@ | awk '$$3 == "__StackLimit" {print $$1 + 0}'); \
	ramsize=$$($(ARM_NM) -t d $@ | awk '$$3 == "__ram_kib" {print $$1 * 1024}'); \
	printf 'board=%s\ntext=%s\ndata=%s\nbss=%s\nflash=%s\nram=%s\nmodel=%s\ncode=%s\narena=%s\nstack=%s\n' \
	  $(BOARD) $$1 $$2 $$3 $$(($$1 + $$2)) $$(($$2 + $$3)) $$model $$(($$1 - $$model)) $$arena $$stack > $(OUT)/size.txt; \
	if [ -n "$$limit" ]; then printf 'stack_limit=%s\n' "$$limit" >> $(OUT)/size.txt; fi; \
	if [ -n "$$ramsize" ]; then printf 'ram_size=%s\n' "$$ramsize" >> $(OUT)/size.txt; fi; \
	echo "$(BOARD): $@: flash $$(($$1 + $$2)) B (code+rodata $$(($$1 - $$model)), model $$model, .data $$2)," \
	  "RAM $$(($$2 + $$3)) B (arena $$arena, stack $$stack, other $$(($$2 + $$3 - $$arena - $$stack)))"

clean:
	rm -rf $(B)
