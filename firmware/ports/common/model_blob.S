/* The .esnn model linked into flash: esnn_model .. esnn_model_end, 8-aligned so the runtime reads its
 * 4-aligned arrays in place. Assembled with -DESNN_MODEL_FILE="\"path/model.esnn\"". */
    .section .rodata.esnn_model, "a"
    .balign 8
    .global esnn_model
    .global esnn_model_end
esnn_model:
    .incbin ESNN_MODEL_FILE
esnn_model_end:
    .byte 0
