#ifndef C_KIROKU_ZLIB_H
#define C_KIROKU_ZLIB_H

// zlib's inflateInit2 is a macro, which Swift cannot call: this wraps it.
#include <zlib.h>

static inline int ckiroku_inflateInit2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

#endif
