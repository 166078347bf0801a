// GGUF value types: names, sizes and the convenience constructors.
#include "engine/gguf/gguf_value.h"

namespace gb {

const char* gguf_type_name(GgufType t) {
    switch (t) {
        case GgufType::UINT8: return "UINT8";
        case GgufType::INT8: return "INT8";
        case GgufType::UINT16: return "UINT16";
        case GgufType::INT16: return "INT16";
        case GgufType::UINT32: return "UINT32";
        case GgufType::INT32: return "INT32";
        case GgufType::FLOAT32: return "FLOAT32";
        case GgufType::BOOL: return "BOOL";
        case GgufType::STRING: return "STRING";
        case GgufType::ARRAY: return "ARRAY";
        case GgufType::UINT64: return "UINT64";
        case GgufType::INT64: return "INT64";
        case GgufType::FLOAT64: return "FLOAT64";
    }
    return "unknown";
}

bool gguf_type_known(uint32_t raw) { return raw <= static_cast<uint32_t>(GgufType::FLOAT64); }

bool gguf_type_is_int(GgufType t) {
    switch (t) {
        case GgufType::UINT8:
        case GgufType::INT8:
        case GgufType::UINT16:
        case GgufType::INT16:
        case GgufType::UINT32:
        case GgufType::INT32:
        case GgufType::UINT64:
        case GgufType::INT64: return true;
        default: return false;
    }
}

bool gguf_type_is_float(GgufType t) { return t == GgufType::FLOAT32 || t == GgufType::FLOAT64; }

size_t gguf_scalar_size(GgufType t) {
    switch (t) {
        case GgufType::UINT8:
        case GgufType::INT8:
        case GgufType::BOOL: return 1;
        case GgufType::UINT16:
        case GgufType::INT16: return 2;
        case GgufType::UINT32:
        case GgufType::INT32:
        case GgufType::FLOAT32: return 4;
        case GgufType::UINT64:
        case GgufType::INT64:
        case GgufType::FLOAT64: return 8;
        case GgufType::STRING:
        case GgufType::ARRAY: return 0;
    }
    return 0;
}

size_t GgufArray::size() const {
    if (gguf_type_is_int(elem_type)) return ints.size();
    if (gguf_type_is_float(elem_type)) return floats.size();
    switch (elem_type) {
        case GgufType::BOOL: return bools.size();
        case GgufType::STRING: return strings.size();
        case GgufType::ARRAY: return arrays.size();
        default: return 0;
    }
}

bool GgufValue::is_int() const { return gguf_type_is_int(type); }
bool GgufValue::is_float() const { return gguf_type_is_float(type); }

namespace {
GgufValue make(GgufType t, decltype(GgufValue::v) v) {
    GgufValue out;
    out.type = t;
    out.v = std::move(v);
    return out;
}
}  // namespace

GgufValue GgufValue::u8(uint8_t x) { return make(GgufType::UINT8, int64_t{x}); }
GgufValue GgufValue::i8(int8_t x) { return make(GgufType::INT8, int64_t{x}); }
GgufValue GgufValue::u16(uint16_t x) { return make(GgufType::UINT16, int64_t{x}); }
GgufValue GgufValue::i16(int16_t x) { return make(GgufType::INT16, int64_t{x}); }
GgufValue GgufValue::u32(uint32_t x) { return make(GgufType::UINT32, int64_t{x}); }
GgufValue GgufValue::i32(int32_t x) { return make(GgufType::INT32, int64_t{x}); }
GgufValue GgufValue::u64(uint64_t x) { return make(GgufType::UINT64, x); }
GgufValue GgufValue::i64(int64_t x) { return make(GgufType::INT64, x); }
GgufValue GgufValue::f32(float x) { return make(GgufType::FLOAT32, double{x}); }
GgufValue GgufValue::f64(double x) { return make(GgufType::FLOAT64, x); }
GgufValue GgufValue::boolean(bool x) { return make(GgufType::BOOL, x); }
GgufValue GgufValue::str(std::string s) { return make(GgufType::STRING, std::move(s)); }

GgufValue GgufValue::str_array(std::vector<std::string> s) {
    GgufArray a;
    a.elem_type = GgufType::STRING;
    a.strings = std::move(s);
    return array(std::move(a));
}

GgufValue GgufValue::i32_array(std::vector<int32_t> s) {
    GgufArray a;
    a.elem_type = GgufType::INT32;
    a.ints.assign(s.begin(), s.end());
    return array(std::move(a));
}

GgufValue GgufValue::f32_array(std::vector<float> s) {
    GgufArray a;
    a.elem_type = GgufType::FLOAT32;
    a.floats.assign(s.begin(), s.end());
    return array(std::move(a));
}

GgufValue GgufValue::array(GgufArray a) { return make(GgufType::ARRAY, std::move(a)); }

}  // namespace gb
