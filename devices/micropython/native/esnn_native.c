/* esnn_native.c - the C runtime (firmware/runtime, compiled in unchanged) as a MicroPython dynamic native module.
 *
 *     import esnn_native
 *     m = esnn_native.Model(blob)            # validate (C loader) + lean arena plan; ValueError names the field
 *     m = esnn_native.Model(blob, esnn_native.OPT_FINAL_STATE)   # keeps every LIF state (more arena)
 *     T, classes, num_lif, frame_size, frames, flags, arena_len = m.info()
 *     logits = array('i', bytes(4 * classes)); counts = array('I', bytes(4 * num_lif))
 *     predicted = m.run(x, logits, counts)   # x: u8 frames (buffer protocol); results written in place
 *     m.reset(); m.step(frame) ...; predicted = m.results(logits, counts)   # time-major, causal graphs
 *     m.final_state(lif, out)                # out: array('i', state_size(lif)), needs OPT_FINAL_STATE
 *
 * The object keeps references to the blob object (read in place, never copied: it must stay unchanged) and to
 * the arena bytearray, so the GC keeps both alive while the context points into them. A run allocates nothing
 * on the heap: the caller passes the result arrays (allocated once, at load).
 */
#include "py/dynruntime.h"

#include "esnn.h"

typedef struct {
    mp_obj_base_t base;
    mp_obj_t blob;  /* the blob object: the context points into its buffer */
    mp_obj_t arena; /* bytearray over the arena block */
    size_t arena_len;
    esnn_ctx_t ctx;
} esnn_obj_t;

mp_obj_full_type_t esnn_type;
mp_map_elem_t esnn_locals_table[8];
static MP_DEFINE_CONST_DICT(esnn_locals, esnn_locals_table);

/* ---- errors: "ESNN_ERR_OP: invalid op record (op 3 kh)", as the C host binding words them ---------------- */
static size_t put_str(char *buf, size_t pos, size_t cap, const char *s) {
    while (*s && pos < cap) buf[pos++] = *s++;
    return pos;
}

static size_t put_int(char *buf, size_t pos, size_t cap, int32_t v) {
    char tmp[12];
    size_t n = 0;
    uint32_t u = (uint32_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u && n < sizeof tmp);
    while (n && pos < cap) buf[pos++] = tmp[--n];
    return pos;
}

static MP_NORETURN void raise_status(esnn_status_t st, const esnn_error_t *err) {
    char buf[160];
    const size_t cap = sizeof buf;
    size_t pos = put_str(buf, 0, cap, esnn_status_name(st));
    int detail = err && err->status == st && (err->op >= 0 || err->buffer >= 0 || (err->field && *err->field));
    pos = put_str(buf, pos, cap, ": ");
    pos = put_str(buf, pos, cap, esnn_status_str(st));
    if (detail) {
        int sep = 0;
        pos = put_str(buf, pos, cap, " (");
        if (err->op >= 0) {
            pos = put_int(buf, put_str(buf, pos, cap, "op "), cap, err->op);
            sep = 1;
        }
        if (err->buffer >= 0) {
            pos = put_int(buf, put_str(buf, pos, cap, sep ? " buffer " : "buffer "), cap, err->buffer);
            sep = 1;
        }
        if (err->field && *err->field) pos = put_str(buf, put_str(buf, pos, cap, sep ? " " : ""), cap, err->field);
        pos = put_str(buf, pos, cap, ")");
    }
    mp_raise_type_arg(&mp_type_ValueError, mp_obj_new_str(buf, pos));
}

static esnn_obj_t *self_of(mp_obj_t self_in) { return (esnn_obj_t *)MP_OBJ_TO_PTR(self_in); }

static void check(esnn_obj_t *self, esnn_status_t st) {
    if (st != ESNN_OK) raise_status(st, esnn_error(&self->ctx));
}

/* ---- Model(blob, options=0) ------------------------------------------------------------------------- */
static mp_obj_t esnn_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_buffer_info_t blob;
    uint32_t options = 0;
    size_t need = 0;
    esnn_status_t st;
    uint8_t *arena;
    esnn_obj_t *self;
    mp_arg_check_num(n_args, n_kw, 1, 2, false);
    mp_get_buffer_raise(args[0], &blob, MP_BUFFER_READ);
    if (n_args > 1) options = (uint32_t)mp_obj_get_int(args[1]);
    self = mp_obj_malloc(esnn_obj_t, type);
    self->blob = args[0];
    self->arena = mp_const_none;
    self->arena_len = 0;
    st = esnn_arena_required_ex((const uint8_t *)blob.buf, blob.len, options, &need);
    if (st != ESNN_OK) {
        /* the loader's first error, with its field: init refuses the blob before it looks at the arena */
        st = esnn_init_ex(&self->ctx, (const uint8_t *)blob.buf, blob.len, NULL, 0, options);
        raise_status(st, esnn_error(&self->ctx));
    }
    self->arena_len = need + 7; /* esnn_init aligns the start up to 8 bytes */
    arena = m_new(uint8_t, self->arena_len);
    memset(arena, 0, self->arena_len);
    self->arena = mp_obj_new_bytearray_by_ref(self->arena_len, arena);
    st = esnn_init_ex(&self->ctx, (const uint8_t *)blob.buf, blob.len, arena, self->arena_len, options);
    check(self, st);
    return MP_OBJ_FROM_PTR(self);
}

static void *writable(mp_obj_t o, size_t bytes) {
    mp_buffer_info_t b;
    mp_get_buffer_raise(o, &b, MP_BUFFER_WRITE);
    if (b.len < bytes) mp_raise_ValueError(MP_ERROR_TEXT("result buffer too small"));
    return b.buf;
}

/* Copy logits and spike counts into the caller's arrays; the predicted class. */
static mp_obj_t results(esnn_obj_t *self, mp_obj_t logits, mp_obj_t counts) {
    const esnn_ctx_t *c = &self->ctx;
    memcpy(writable(logits, 4u * c->num_classes), esnn_logits(c), 4u * c->num_classes);
    memcpy(writable(counts, 4u * c->num_lif), esnn_spike_counts(c), 4u * c->num_lif);
    return MP_OBJ_NEW_SMALL_INT(esnn_predicted(c));
}

static mp_obj_t esnn_m_run(size_t n_args, const mp_obj_t *args) {
    esnn_obj_t *self = self_of(args[0]);
    mp_buffer_info_t x;
    (void)n_args;
    mp_get_buffer_raise(args[1], &x, MP_BUFFER_READ);
    check(self, esnn_run(&self->ctx, (const uint8_t *)x.buf, x.len));
    return results(self, args[2], args[3]);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(esnn_run_obj, 4, 4, esnn_m_run);

static mp_obj_t esnn_m_results(mp_obj_t self_in, mp_obj_t logits, mp_obj_t counts) {
    return results(self_of(self_in), logits, counts);
}
static MP_DEFINE_CONST_FUN_OBJ_3(esnn_results_obj, esnn_m_results);

static mp_obj_t esnn_m_reset(mp_obj_t self_in) {
    esnn_obj_t *self = self_of(self_in);
    check(self, esnn_reset(&self->ctx));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(esnn_reset_obj, esnn_m_reset);

static mp_obj_t esnn_m_step(mp_obj_t self_in, mp_obj_t frame) {
    esnn_obj_t *self = self_of(self_in);
    mp_buffer_info_t x;
    mp_get_buffer_raise(frame, &x, MP_BUFFER_READ);
    check(self, esnn_step(&self->ctx, (const uint8_t *)x.buf, x.len));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(esnn_step_obj, esnn_m_step);

static mp_obj_t esnn_m_state_size(mp_obj_t self_in, mp_obj_t lif) {
    return mp_obj_new_int(esnn_state_size(&self_of(self_in)->ctx, (uint16_t)mp_obj_get_int(lif)));
}
static MP_DEFINE_CONST_FUN_OBJ_2(esnn_state_size_obj, esnn_m_state_size);

static mp_obj_t esnn_m_final_state(mp_obj_t self_in, mp_obj_t lif_in, mp_obj_t out) {
    esnn_obj_t *self = self_of(self_in);
    uint16_t lif = (uint16_t)mp_obj_get_int(lif_in);
    size_t n = esnn_state_size(&self->ctx, lif);
    check(self, esnn_final_state(&self->ctx, lif, (int32_t *)writable(out, 4u * n), n));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(esnn_final_state_obj, esnn_m_final_state);

/* (T, num_classes, num_lif, frame_size, input_frames, flags, arena_len) */
static mp_obj_t esnn_m_info(mp_obj_t self_in) {
    esnn_obj_t *self = self_of(self_in);
    const esnn_ctx_t *c = &self->ctx;
    mp_obj_t items[7];
    items[0] = mp_obj_new_int(esnn_num_steps(c));
    items[1] = mp_obj_new_int(esnn_num_classes(c));
    items[2] = mp_obj_new_int(esnn_num_lif(c));
    items[3] = mp_obj_new_int((mp_int_t)esnn_frame_size(c));
    items[4] = mp_obj_new_int(esnn_input_frames(c));
    items[5] = mp_obj_new_int((mp_int_t)esnn_flags(c));
    items[6] = mp_obj_new_int((mp_int_t)self->arena_len);
    return mp_obj_new_tuple(7, items);
}
static MP_DEFINE_CONST_FUN_OBJ_1(esnn_info_obj, esnn_m_info);

static mp_obj_t esnn_m_arena(mp_obj_t self_in) { return self_of(self_in)->arena; }
static MP_DEFINE_CONST_FUN_OBJ_1(esnn_arena_obj, esnn_m_arena);

static mp_obj_t esnn_m_version(void) { return mp_obj_new_str(ESNN_VERSION_STRING, sizeof ESNN_VERSION_STRING - 1); }
static MP_DEFINE_CONST_FUN_OBJ_0(esnn_version_obj, esnn_m_version);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    (void)n_args;
    (void)n_kw;
    (void)args;

    esnn_type.base.type = (void *)&mp_type_type;
    esnn_type.name = MP_QSTR_Model;
    MP_OBJ_TYPE_SET_SLOT(&esnn_type, make_new, esnn_make_new, 0);
    esnn_locals_table[0] = (mp_map_elem_t){MP_OBJ_NEW_QSTR(MP_QSTR_run), MP_OBJ_FROM_PTR(&esnn_run_obj)};
    esnn_locals_table[1] = (mp_map_elem_t){MP_OBJ_NEW_QSTR(MP_QSTR_results), MP_OBJ_FROM_PTR(&esnn_results_obj)};
    esnn_locals_table[2] = (mp_map_elem_t){MP_OBJ_NEW_QSTR(MP_QSTR_reset), MP_OBJ_FROM_PTR(&esnn_reset_obj)};
    esnn_locals_table[3] = (mp_map_elem_t){MP_OBJ_NEW_QSTR(MP_QSTR_step), MP_OBJ_FROM_PTR(&esnn_step_obj)};
    esnn_locals_table[4] = (mp_map_elem_t){MP_OBJ_NEW_QSTR(MP_QSTR_state_size), MP_OBJ_FROM_PTR(&esnn_state_size_obj)};
    esnn_locals_table[5] = (mp_map_elem_t){MP_OBJ_NEW_QSTR(MP_QSTR_final_state), MP_OBJ_FROM_PTR(&esnn_final_state_obj)};
    esnn_locals_table[6] = (mp_map_elem_t){MP_OBJ_NEW_QSTR(MP_QSTR_info), MP_OBJ_FROM_PTR(&esnn_info_obj)};
    esnn_locals_table[7] = (mp_map_elem_t){MP_OBJ_NEW_QSTR(MP_QSTR_arena), MP_OBJ_FROM_PTR(&esnn_arena_obj)};
    MP_OBJ_TYPE_SET_SLOT(&esnn_type, locals_dict, (void *)&esnn_locals, 1);

    mp_store_global(MP_QSTR_Model, MP_OBJ_FROM_PTR(&esnn_type));
    mp_store_global(MP_QSTR_OPT_FINAL_STATE, MP_OBJ_NEW_SMALL_INT(ESNN_OPT_FINAL_STATE));
    mp_store_global(MP_QSTR_OPT_REFERENCE, MP_OBJ_NEW_SMALL_INT(ESNN_OPT_REFERENCE));
    mp_store_global(MP_QSTR_version, MP_OBJ_FROM_PTR(&esnn_version_obj));

    MP_DYNRUNTIME_INIT_EXIT
}
