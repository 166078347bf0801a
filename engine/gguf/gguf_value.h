// A GGUF metadata value: scalars, strings and (possibly nested) arrays.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace gb {

// On-disk value type ids of the GGUF format.
enum class GgufType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};

// "UINT32", "STRING", ...; "unknown" for an id outside the enum.
const char* gguf_type_name(GgufType t);
// True for the 13 ids above.
bool gguf_type_known(uint32_t raw);
bool gguf_type_is_int(GgufType t);
bool gguf_type_is_float(GgufType t);
// On-disk size of a scalar of type t (0 for STRING and ARRAY, which have variable size).
size_t gguf_scalar_size(GgufType t);

struct GgufValue;

// An array keeps its element type; its elements live in the one vector that fits them, so that
// a 150k-entry vocabulary is one vector<string>, not 150k variants.
struct GgufArray {
    GgufType elem_type = GgufType::UINT8;
    std::vector<int64_t> ints;   // all integer types (UINT64 values above INT64_MAX are refused)
    std::vector<double> floats;  // FLOAT32, FLOAT64
    std::vector<uint8_t> bools;  // BOOL (0 or 1)
    std::vector<std::string> strings;  // STRING
    std::vector<GgufValue> arrays;     // ARRAY (nested); each element has type ARRAY
    size_t size() const;
};

struct GgufValue {
    GgufType type = GgufType::UINT8;
    // Which alternative holds the value:
    //   int64_t  UINT8 INT8 UINT16 INT16 UINT32 INT32 INT64
    //   uint64_t UINT64 (all of its range is kept; get_int() refuses values above INT64_MAX)
    //   double   FLOAT32 FLOAT64
    //   bool     BOOL;  std::string STRING;  GgufArray ARRAY
    std::variant<int64_t, uint64_t, double, bool, std::string, GgufArray> v;

    bool is_int() const;    // any integer type
    bool is_float() const;  // FLOAT32 / FLOAT64

    // Convenience constructors used by the writer and tests.
    static GgufValue u8(uint8_t x);
    static GgufValue i8(int8_t x);
    static GgufValue u16(uint16_t x);
    static GgufValue i16(int16_t x);
    static GgufValue u32(uint32_t x);
    static GgufValue i32(int32_t x);
    static GgufValue u64(uint64_t x);
    static GgufValue i64(int64_t x);
    static GgufValue f32(float x);
    static GgufValue f64(double x);
    static GgufValue boolean(bool x);
    static GgufValue str(std::string s);
    static GgufValue str_array(std::vector<std::string> s);
    static GgufValue i32_array(std::vector<int32_t> s);
    static GgufValue f32_array(std::vector<float> s);
    // Any array, e.g. nested arrays or arrays of other integer widths.
    static GgufValue array(GgufArray a);
};

struct GgufKV {
    std::string key;
    GgufValue value;
};

}  // namespace gb
