// GGUF v3 writer: serialises metadata and tensors, checking that each value matches its type.
#include "engine/gguf/gguf_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "kernels/error.h"

namespace gb {
namespace {

constexpr uint64_t kDefaultAlignment = 32;

class Out {
public:
    std::vector<uint8_t> bytes;

    void uint(uint64_t x, size_t n) {
        for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<uint8_t>(x >> (8 * i)));
    }
    void str(const std::string& s) {
        uint(s.size(), 8);
        bytes.insert(bytes.end(), s.begin(), s.end());
    }
    void pad_to(uint64_t alignment) {
        while (bytes.size() % alignment) bytes.push_back(0);
    }
};

[[noreturn]] void bad_value(const std::string& key, const std::string& what) {
    throw Error("GgufWriter: key '" + key + "': " + what);
}

void put_int(Out& o, GgufType t, int64_t x, const std::string& key) {
    int64_t lo = 0, hi = 0;
    switch (t) {
        case GgufType::UINT8:
            lo = 0;
            hi = UINT8_MAX;
            break;
        case GgufType::INT8:
            lo = INT8_MIN;
            hi = INT8_MAX;
            break;
        case GgufType::UINT16:
            lo = 0;
            hi = UINT16_MAX;
            break;
        case GgufType::INT16:
            lo = INT16_MIN;
            hi = INT16_MAX;
            break;
        case GgufType::UINT32:
            lo = 0;
            hi = UINT32_MAX;
            break;
        case GgufType::INT32:
            lo = INT32_MIN;
            hi = INT32_MAX;
            break;
        case GgufType::UINT64:
            lo = 0;
            hi = INT64_MAX;
            break;
        default:
            lo = INT64_MIN;
            hi = INT64_MAX;
            break;
    }
    if (x < lo || x > hi)
        bad_value(key, std::to_string(x) + " does not fit in " + gguf_type_name(t));
    o.uint(static_cast<uint64_t>(x), gguf_scalar_size(t));
}

void put_float(Out& o, GgufType t, double x) {
    if (t == GgufType::FLOAT32) {
        float f = static_cast<float>(x);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        o.uint(bits, 4);
    } else {
        uint64_t bits;
        std::memcpy(&bits, &x, 8);
        o.uint(bits, 8);
    }
}

void put_value(Out& o, const GgufValue& v, const std::string& key);

void put_array(Out& o, const GgufArray& a, const std::string& key) {
    if (!gguf_type_known(static_cast<uint32_t>(a.elem_type)))
        bad_value(key, "unknown array element type");
    // Exactly the vector that matches elem_type may hold elements.
    size_t filled = !a.ints.empty() + !a.floats.empty() + !a.bools.empty() + !a.strings.empty() +
                    !a.arrays.empty();
    if (filled > 1 || (filled == 1 && a.size() == 0))
        bad_value(key, std::string("array elements are not in the vector for ") +
                           gguf_type_name(a.elem_type));
    o.uint(static_cast<uint32_t>(a.elem_type), 4);
    o.uint(a.size(), 8);
    if (gguf_type_is_int(a.elem_type))
        for (int64_t x : a.ints) put_int(o, a.elem_type, x, key);
    else if (gguf_type_is_float(a.elem_type))
        for (double x : a.floats) put_float(o, a.elem_type, x);
    else if (a.elem_type == GgufType::BOOL)
        for (uint8_t b : a.bools) o.uint(b ? 1 : 0, 1);
    else if (a.elem_type == GgufType::STRING)
        for (const auto& s : a.strings) o.str(s);
    else
        for (const auto& e : a.arrays) {
            if (e.type != GgufType::ARRAY) bad_value(key, "nested array element is not an ARRAY");
            put_array(o, std::get<GgufArray>(e.v), key);
        }
}

template <class T>
const T& alt(const GgufValue& v, const std::string& key) {
    if (!std::holds_alternative<T>(v.v))
        bad_value(key, std::string("value of type ") + gguf_type_name(v.type) +
                           " holds the wrong C++ type");
    return std::get<T>(v.v);
}

void put_value(Out& o, const GgufValue& v, const std::string& key) {
    if (!gguf_type_known(static_cast<uint32_t>(v.type))) bad_value(key, "unknown value type");
    o.uint(static_cast<uint32_t>(v.type), 4);
    if (v.type == GgufType::UINT64) {
        // Accept a small UINT64 built by hand into the int64_t alternative as well.
        if (std::holds_alternative<int64_t>(v.v))
            put_int(o, v.type, std::get<int64_t>(v.v), key);
        else
            o.uint(alt<uint64_t>(v, key), 8);
    } else if (v.is_int()) {
        put_int(o, v.type, alt<int64_t>(v, key), key);
    } else if (v.is_float()) {
        put_float(o, v.type, alt<double>(v, key));
    } else if (v.type == GgufType::BOOL) {
        o.uint(alt<bool>(v, key) ? 1 : 0, 1);
    } else if (v.type == GgufType::STRING) {
        o.str(alt<std::string>(v, key));
    } else {
        put_array(o, alt<GgufArray>(v, key), key);
    }
}

}  // namespace

GgufWriter::GgufWriter(uint64_t alignment) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > UINT32_MAX)
        throw Error("GgufWriter: alignment " + std::to_string(alignment) +
                    " is not a power of two that fits in u32");
}

void GgufWriter::set(std::string key, GgufValue value) {
    if (key.empty() || key.size() > 65535)
        throw Error("GgufWriter: key length must be 1..65535 bytes");
    for (auto& kv : kv_)
        if (kv.key == key) {
            kv.value = std::move(value);
            return;
        }
    kv_.push_back(GgufKV{std::move(key), std::move(value)});
}

size_t GgufWriter::check_tensor(const std::string& name, TensorType type,
                                const std::vector<int64_t>& dims) const {
    const std::string who = "GgufWriter: tensor '" + name + "': ";
    if (name.empty() || name.size() > 63) throw Error(who + "name must be 1..63 bytes");
    for (const auto& t : tensors_)
        if (t.name == name) throw Error(who + "added twice");
    if (dims.empty() || dims.size() > 4) throw Error(who + "needs 1..4 dimensions");
    int64_t rows = 1;
    for (size_t i = 0; i < dims.size(); ++i) {
        if (dims[i] < 1) throw Error(who + "dimension " + std::to_string(i) + " must be >= 1");
        if (i > 0 && __builtin_mul_overflow(rows, dims[i], &rows))
            throw Error(who + "too many elements");
    }
    const TypeInfo& info = type_info(type);
    if (dims[0] % info.block_size != 0)
        throw Error(who + "dimension 0 = " + std::to_string(dims[0]) +
                    " is not a multiple of the block size " + std::to_string(info.block_size));
    size_t expect = 0;
    if (__builtin_mul_overflow(row_bytes(type, dims[0]), static_cast<size_t>(rows), &expect))
        throw Error(who + "too many bytes");
    return expect;
}

void GgufWriter::add_tensor(std::string name, TensorType type, std::vector<int64_t> dims,
                            const void* data, size_t bytes) {
    const size_t expect = check_tensor(name, type, dims);
    if (expect != bytes)
        throw Error("GgufWriter: tensor '" + name + "': data has " + std::to_string(bytes) +
                    " bytes, expected " + std::to_string(expect));
    const auto* p = static_cast<const uint8_t*>(data);
    Tensor t{std::move(name), type, std::move(dims), bytes, std::vector<uint8_t>(p, p + bytes),
             nullptr,         {}};
    tensors_.push_back(std::move(t));
}

void GgufWriter::add_tensor_ref(std::string name, TensorType type, std::vector<int64_t> dims,
                                const void* data, size_t bytes) {
    const size_t expect = check_tensor(name, type, dims);
    if (expect != bytes)
        throw Error("GgufWriter: tensor '" + name + "': data has " + std::to_string(bytes) +
                    " bytes, expected " + std::to_string(expect));
    if (!data && bytes) throw Error("GgufWriter: tensor '" + name + "': no data");
    tensors_.push_back(Tensor{std::move(name), type, std::move(dims), bytes, {}, data, {}});
}

void GgufWriter::add_tensor_fill(std::string name, TensorType type, std::vector<int64_t> dims,
                                 Fill fill) {
    const size_t expect = check_tensor(name, type, dims);
    if (!fill) throw Error("GgufWriter: tensor '" + name + "': no fill function");
    tensors_.push_back(
        Tensor{std::move(name), type, std::move(dims), expect, {}, nullptr, std::move(fill)});
}

const uint8_t* GgufWriter::tensor_bytes(const Tensor& t, std::vector<uint8_t>& scratch) const {
    if (t.fill) {
        scratch.assign(t.n_bytes, 0);
        t.fill(scratch.data());
        return scratch.data();
    }
    return t.ref ? static_cast<const uint8_t*>(t.ref) : t.data.data();
}

std::vector<uint8_t> GgufWriter::header_bytes() const {
    std::vector<GgufKV> kv = kv_;
    bool have_alignment = false;
    for (const auto& e : kv)
        if (e.key == "general.alignment") {
            have_alignment = true;
            bool same = e.value.type == GgufType::UINT32 &&
                        std::holds_alternative<int64_t>(e.value.v) &&
                        std::get<int64_t>(e.value.v) == static_cast<int64_t>(alignment_);
            if (!same)
                throw Error("GgufWriter: general.alignment must be the u32 " +
                            std::to_string(alignment_) + " given to the constructor");
        }
    if (!have_alignment && alignment_ != kDefaultAlignment)
        kv.push_back(
            GgufKV{"general.alignment", GgufValue::u32(static_cast<uint32_t>(alignment_))});

    Out o;
    for (char ch : {'G', 'G', 'U', 'F'}) o.bytes.push_back(static_cast<uint8_t>(ch));
    o.uint(3, 4);
    o.uint(tensors_.size(), 8);
    o.uint(kv.size(), 8);
    for (const auto& e : kv) {
        o.str(e.key);
        put_value(o, e.value, e.key);
    }
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
        o.str(t.name);
        o.uint(t.dims.size(), 4);
        for (int64_t d : t.dims) o.uint(static_cast<uint64_t>(d), 8);
        o.uint(static_cast<uint32_t>(t.type), 4);
        o.uint(offset, 8);
        offset += (t.n_bytes + alignment_ - 1) / alignment_ * alignment_;
    }
    if (!tensors_.empty()) o.pad_to(alignment_);
    return o.bytes;
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
    std::vector<uint8_t> out = header_bytes(), scratch;
    for (size_t i = 0; i < tensors_.size(); ++i) {
        if (i) out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, 0);
        const uint8_t* p = tensor_bytes(tensors_[i], scratch);
        out.insert(out.end(), p, p + tensors_[i].n_bytes);
    }
    return out;
}

void GgufWriter::write(const std::string& path) const {
    const std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw Error(path + ": cannot open " + tmp + " for writing: " + std::strerror(errno));
    // Any failure below closes the file once, removes the partial temporary file and leaves PATH
    // as it was. (put() only throws; closing is left to the one handler below: closing in both
    // was a double free when the disk filled up.)
    auto put = [&](const void* p, size_t n) {
        if (n && std::fwrite(p, 1, n, f) != n)
            throw Error(path + ": write failed: " + std::strerror(errno));
    };
    std::vector<uint8_t> scratch;
    uint64_t pos = 0;
    std::string failure;
    try {
        const std::vector<uint8_t> head = header_bytes();
        put(head.data(), head.size());
        pos = head.size();
        static const uint8_t zeros[256] = {};
        for (size_t i = 0; i < tensors_.size(); ++i) {
            for (uint64_t pad = (alignment_ - pos % alignment_) % alignment_; pad > 0;) {
                const size_t n = static_cast<size_t>(std::min<uint64_t>(pad, sizeof zeros));
                put(zeros, n);
                pad -= n;
                pos += n;
            }
            const uint8_t* p = tensor_bytes(tensors_[i], scratch);
            put(p, tensors_[i].n_bytes);
            pos += tensors_[i].n_bytes;
        }
    } catch (const Error& e) {
        failure = e.what();
    } catch (const std::exception& e) {
        failure = path + ": writing failed: " + e.what();
    }
    if (!failure.empty()) {
        std::fclose(f);
        std::remove(tmp.c_str());
        throw Error(failure);
    }
    const bool flushed = std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    int e = errno;
    const bool closed = std::fclose(f) == 0;
    if (flushed && !closed) e = errno;
    if (!flushed || !closed) {
        std::remove(tmp.c_str());
        throw Error(path + ": write failed: " + std::strerror(e));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int re = errno;
        std::remove(tmp.c_str());
        throw Error(path + ": cannot rename " + tmp + " into place: " + std::strerror(re));
    }
}

}  // namespace gb
