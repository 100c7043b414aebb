/* Host kernels of the int16 spike conv (natural channel order): x86 SSE2 intrinsics, or fixed-width loops
 * that compilers vectorise (any other host, and ESNN_NO_ASM). */
#ifndef ESNN_KERNEL_CONV_HOST_H
#define ESNN_KERNEL_CONV_HOST_H
#include "../esnn_internal.h"

#if !ESNN_SIMD32
/* The taps of one pixel (count, then accumulator offset in int16 elements and weight offset per tap) for the
 * spikes whose weight-block offsets in w are sp[0..ns). */
void esnn_taps_host(int16_t *y, const uint8_t *w, uint32_t cout, const uint32_t *sp, uint32_t ns,
                    const uint32_t *taps);
#endif
#endif
