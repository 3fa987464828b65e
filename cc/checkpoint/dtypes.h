// Bytes per element of TensorFlow's DataType numbers (tensorflow/core/framework/types.proto) as a
// checkpoint stores them; 0 for the variable-length kinds (DT_STRING 7, DT_VARIANT 21) and for
// numbers a checkpoint cannot hold (DT_INVALID, DT_RESOURCE, reference types, unknown numbers).
#pragma once

namespace tfforge::checkpoint {

constexpr int kDtString = 7;
constexpr int kDtVariant = 21;

inline int element_size(int dtype) {
  switch (dtype) {
    case 4: case 6: case 10: case 11: case 12:                 // uint8 int8 bool qint8 quint8
    case 24: case 25: case 26: case 27: case 28:               // float8 variants
    case 29: case 30: case 31: case 32:                        // int4 uint4 int2 uint2: a byte each
      return 1;
    case 5: case 14: case 15: case 16: case 17: case 19:       // int16 bfloat16 qint16 quint16 uint16 half
      return 2;
    case 1: case 3: case 13: case 22:                          // float int32 qint32 uint32
      return 4;
    case 2: case 8: case 9: case 23:                           // double complex64 int64 uint64
      return 8;
    case 18:                                                   // complex128
      return 16;
    default:
      return 0;
  }
}

// The width of the scalars a byte swap reverses (complex numbers swap each half).
inline int swap_width(int dtype) {
  int n = element_size(dtype);
  return (dtype == 8 || dtype == 18) ? n / 2 : n;
}

}  // namespace tfforge::checkpoint
