// GGUF reader: parses and validates the header, metadata and tensor table of a GGUF v2/v3 file
// held in memory (an mmap or a caller's buffer). Nothing read from the file is trusted before
// it has been checked against the bytes that are actually there.
#include "engine/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>

#include "engine/core/file_read.h"
#include "kernels/error.h"

namespace gb {
namespace {

constexpr uint64_t kDefaultAlignment = 32;
constexpr int kMaxArrayDepth = 8;       // nested arrays; real files use none
constexpr size_t kMaxKeyBytes = 65535;  // the format limits keys to 2^16 - 1 bytes
constexpr size_t kMaxTensorName = 63;   // 64-byte name buffers in the usual runtimes, with NUL
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();  // bounded by the file only
// Fewest bytes one metadata entry / tensor info can take; they bound the counts by file size.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;  // key length, 1-char key, type, u8 value
constexpr uint64_t kMinTensorBytes =
    8 + 1 + 4 + 8 + 4 + 8;  // name length, name, n_dims, dim, type, offset

std::string hex_bytes(const uint8_t* p, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) {
        if (i) s += ' ';
        s += digits[p[i] >> 4];
        s += digits[p[i] & 15];
    }
    return s;
}

std::string quoted(std::string_view s) {
    // Names come from the file: keep messages printable and short whatever the bytes are.
    std::string out = "'";
    for (size_t i = 0; i < s.size() && i < 120; ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f)
            out += static_cast<char>(c);
        else
            out += "\\x" + hex_bytes(&c, 1);
    }
    if (s.size() > 120) out += "...";
    return out + "'";
}

// A bounds-checked little-endian cursor over the file. Every failure names the file, the item
// being read (context) and the byte offset.
class Cursor {
public:
    Cursor(const uint8_t* p, size_t size, const std::string& name)
        : p_(p), size_(size), name_(name) {}

    size_t pos() const { return pos_; }
    size_t left() const { return size_ - pos_; }
    void set_context(std::string ctx) { ctx_ = std::move(ctx); }
    const std::string& context() const { return ctx_; }

    [[noreturn]] void fail(const std::string& what, size_t at) const {
        std::string msg = name_ + ": ";
        if (!ctx_.empty()) msg += ctx_ + ": ";
        throw Error(msg + what + " (at byte offset " + std::to_string(at) + ")");
    }

    void need(uint64_t n, const char* what) const {
        if (n > left())
            fail(std::string("file is truncated: ") + what + " needs " + std::to_string(n) +
                     " bytes but only " + std::to_string(left()) + " remain",
                 pos_);
    }

    uint64_t uint(size_t bytes, const char* what) {
        need(bytes, what);
        uint64_t x = 0;
        for (size_t i = 0; i < bytes; ++i) x |= uint64_t{p_[pos_ + i]} << (8 * i);
        pos_ += bytes;
        return x;
    }
    uint8_t u8(const char* what) { return static_cast<uint8_t>(uint(1, what)); }
    uint32_t u32(const char* what) { return static_cast<uint32_t>(uint(4, what)); }
    uint64_t u64(const char* what) { return uint(8, what); }

    std::string string(const char* what, uint64_t max_len) {
        const size_t at = pos_;
        uint64_t len = u64(what);
        if (len > max_len)
            fail(std::string(what) + " length " + std::to_string(len) + " exceeds the limit of " +
                     std::to_string(max_len) + " bytes",
                 at);
        if (len > left())
            fail(std::string(what) + " length " + std::to_string(len) + " runs past end of file (" +
                     std::to_string(left()) + " bytes remain)",
                 at);
        std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
        pos_ += static_cast<size_t>(len);
        return s;
    }

private:
    const uint8_t* p_;
    size_t size_;
    size_t pos_ = 0;
    const std::string& name_;
    std::string ctx_;
};

int64_t read_int(Cursor& c, GgufType t) {
    switch (t) {
        case GgufType::UINT8: return static_cast<int64_t>(c.uint(1, "UINT8 value"));
        case GgufType::INT8: return static_cast<int8_t>(c.uint(1, "INT8 value"));
        case GgufType::UINT16: return static_cast<int64_t>(c.uint(2, "UINT16 value"));
        case GgufType::INT16: return static_cast<int16_t>(c.uint(2, "INT16 value"));
        case GgufType::UINT32: return static_cast<int64_t>(c.uint(4, "UINT32 value"));
        case GgufType::INT32: return static_cast<int32_t>(c.uint(4, "INT32 value"));
        case GgufType::INT64: return static_cast<int64_t>(c.uint(8, "INT64 value"));
        default: break;
    }
    const size_t at = c.pos();
    uint64_t x = c.uint(8, "UINT64 value");
    if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        c.fail("UINT64 array element " + std::to_string(x) + " does not fit in int64", at);
    return static_cast<int64_t>(x);
}

double read_float(Cursor& c, GgufType t) {
    if (t == GgufType::FLOAT32) {
        uint32_t bits = c.u32("FLOAT32 value");
        float f;
        std::memcpy(&f, &bits, 4);
        return f;
    }
    uint64_t bits = c.u64("FLOAT64 value");
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
}

bool read_bool(Cursor& c) {
    const size_t at = c.pos();
    uint8_t b = c.u8("BOOL value");
    if (b > 1) c.fail("BOOL value is " + std::to_string(b) + ", expected 0 or 1", at);
    return b != 0;
}

GgufType read_type(Cursor& c, const char* what) {
    const size_t at = c.pos();
    uint32_t raw = c.u32(what);
    if (!gguf_type_known(raw)) c.fail("unknown value type id " + std::to_string(raw), at);
    return static_cast<GgufType>(raw);
}

GgufValue read_value(Cursor& c, GgufType t, int depth);

GgufArray read_array(Cursor& c, int depth) {
    GgufArray a;
    a.elem_type = read_type(c, "array element type");
    const size_t at = c.pos();
    uint64_t n = c.u64("array length");
    if (a.elem_type == GgufType::ARRAY && depth + 1 >= kMaxArrayDepth)
        c.fail("arrays nested deeper than " + std::to_string(kMaxArrayDepth) + " levels", at);
    // The smallest encoding of one element bounds the count before anything is allocated.
    uint64_t min_elem = gguf_scalar_size(a.elem_type);
    if (a.elem_type == GgufType::STRING) min_elem = 8;
    if (a.elem_type == GgufType::ARRAY) min_elem = 4 + 8;
    if (n > c.left() / min_elem)
        c.fail("array of " + std::to_string(n) + " " + gguf_type_name(a.elem_type) +
                   " elements cannot fit in the " + std::to_string(c.left()) + " bytes that remain",
               at);
    const size_t count = static_cast<size_t>(n);
    if (gguf_type_is_int(a.elem_type)) {
        a.ints.resize(count);
        for (auto& x : a.ints) x = read_int(c, a.elem_type);
    } else if (gguf_type_is_float(a.elem_type)) {
        a.floats.resize(count);
        for (auto& x : a.floats) x = read_float(c, a.elem_type);
    } else if (a.elem_type == GgufType::BOOL) {
        a.bools.resize(count);
        for (auto& x : a.bools) x = read_bool(c);
    } else if (a.elem_type == GgufType::STRING) {
        a.strings.reserve(count);
        for (size_t i = 0; i < count; ++i) a.strings.push_back(c.string("array string", kNoLimit));
    } else {
        a.arrays.reserve(count);
        for (size_t i = 0; i < count; ++i)
            a.arrays.push_back(read_value(c, GgufType::ARRAY, depth + 1));
    }
    return a;
}

GgufValue read_value(Cursor& c, GgufType t, int depth) {
    GgufValue v;
    v.type = t;
    if (t == GgufType::UINT64)
        v.v = c.u64("UINT64 value");
    else if (gguf_type_is_int(t))
        v.v = read_int(c, t);
    else if (gguf_type_is_float(t))
        v.v = read_float(c, t);
    else if (t == GgufType::BOOL)
        v.v = read_bool(c);
    else if (t == GgufType::STRING)
        v.v = c.string("string value", kNoLimit);
    else
        v.v = read_array(c, depth);
    return v;
}

bool is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

std::string range(uint64_t a, uint64_t b) {
    return "[" + std::to_string(a) + ", " + std::to_string(b) + ")";
}

}  // namespace

int64_t GgufTensorInfo::rows() const {
    int64_t r = 1;
    for (size_t i = 1; i < dims.size(); ++i) r *= dims[i];
    return r;
}

struct GgufFile::Impl {
    std::string path;
    const uint8_t* base = nullptr;
    size_t size = 0;
    void* map = nullptr;
    size_t map_len = 0;
    uint32_t version = 0;
    uint64_t alignment = kDefaultAlignment;
    size_t data_offset = 0;
    bool metadata_only = false;  // tensor data may lie past the end of the file
    bool has_data = true;
    std::vector<GgufKV> kv;
    std::map<std::string, size_t, std::less<>> kv_index;
    std::vector<GgufTensorInfo> tensors;
    std::map<std::string, size_t, std::less<>> tensor_index;
    // Set only for a view built by from_parts: the bytes of tensors[i] and what keeps them alive.
    std::vector<const uint8_t*> part_data;
    std::shared_ptr<const void> owner;

    ~Impl() {
        if (map) munmap(map, map_len);
    }
    void parse();
    void parse_metadata(Cursor& c, uint64_t n_kv);
    void parse_tensor_infos(Cursor& c, uint64_t n_tensors);
    void check_tensor_data();
    [[noreturn]] void fail_key(std::string_view key, const std::string& what) const {
        throw Error(path + ": metadata key " + quoted(key) + ": " + what);
    }
    [[noreturn]] void wrong_type(std::string_view key, GgufType actual,
                                 const char* expected) const {
        throw Error(path + ": metadata key " + quoted(key) + " is " + gguf_type_name(actual) +
                    ", expected " + expected);
    }
};

void GgufFile::Impl::parse() {
    Cursor c(base, size, path);
    if (size < 4)
        throw Error(path + ": too small to be a GGUF file (" + std::to_string(size) + " bytes)");
    if (std::memcmp(base, "GGUF", 4) != 0)
        c.fail(
            "bad magic " + hex_bytes(base, 4) + " (expected 'GGUF' = 47 47 55 46); not a GGUF file",
            0);
    c.uint(4, "magic");
    const size_t ver_at = c.pos();
    version = c.u32("version");
    if (version == 1)
        c.fail(
            "GGUF version 1 is not supported (only v2 and v3); convert the model again with a "
            "current converter",
            ver_at);
    if (version != 2 && version != 3) {
        // A big-endian file reads its version byte-swapped here.
        if ((version & 0xffffu) == 0 && (version >> 24) >= 1 && (version >> 24) <= 3)
            c.fail("big-endian GGUF files are not supported", ver_at);
        c.fail("unsupported GGUF version " + std::to_string(version) + " (supported: 2, 3)",
               ver_at);
    }
    const size_t counts_at = c.pos();
    uint64_t n_tensors = c.u64("tensor count");
    uint64_t n_kv = c.u64("metadata count");
    const uint64_t left = c.left();
    if (n_kv > left / kMinKvBytes || n_tensors > left / kMinTensorBytes ||
        n_kv * kMinKvBytes + n_tensors * kMinTensorBytes > left)
        c.fail(std::to_string(n_tensors) + " tensors and " + std::to_string(n_kv) +
                   " metadata entries cannot fit in a file of " + std::to_string(size) + " bytes",
               counts_at);

    parse_metadata(c, n_kv);
    parse_tensor_infos(c, n_tensors);

    // The data section starts at the next multiple of the alignment after the tensor table.
    uint64_t start = c.pos();
    uint64_t aligned =
        (start + alignment - 1) / alignment * alignment;  // start <= size: no overflow
    if (aligned > size) {
        if (n_tensors > 0 && !metadata_only) {
            c.set_context("");
            c.fail("tensor data section would start at " + std::to_string(aligned) +
                       ", past end of file (" + std::to_string(size) + " bytes)",
                   start);
        }
        // No tensors: writers may end the file right after the header.
        if (n_tensors == 0) aligned = size;
    }
    data_offset = static_cast<size_t>(aligned);
    check_tensor_data();
}

void GgufFile::Impl::parse_metadata(Cursor& c, uint64_t n_kv) {
    kv.reserve(static_cast<size_t>(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
        c.set_context("metadata entry #" + std::to_string(i));
        const size_t key_at = c.pos();
        std::string key = c.string("key", kMaxKeyBytes);
        if (key.empty()) c.fail("empty key", key_at);
        c.set_context("metadata key " + quoted(key));
        if (kv_index.count(key)) c.fail("duplicate key", key_at);
        GgufType t = read_type(c, "value type");
        GgufValue v = read_value(c, t, 0);
        kv_index.emplace(key, kv.size());
        kv.push_back(GgufKV{std::move(key), std::move(v)});
    }
    c.set_context("");
    if (auto it = kv_index.find("general.alignment"); it != kv_index.end()) {
        const GgufValue& v = kv[it->second].value;
        if (v.type != GgufType::UINT32) wrong_type("general.alignment", v.type, "UINT32");
        int64_t a = std::get<int64_t>(v.v);
        if (!is_pow2(static_cast<uint64_t>(a)))
            fail_key("general.alignment",
                     "value " + std::to_string(a) + " is not a nonzero power of two");
        alignment = static_cast<uint64_t>(a);
    }
}

void GgufFile::Impl::parse_tensor_infos(Cursor& c, uint64_t n_tensors) {
    tensors.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        c.set_context("tensor #" + std::to_string(i));
        const size_t name_at = c.pos();
        GgufTensorInfo t;
        t.name = c.string("tensor name", kMaxTensorName);
        if (t.name.empty()) c.fail("empty tensor name", name_at);
        c.set_context("tensor " + quoted(t.name));
        if (tensor_index.count(t.name)) c.fail("duplicate tensor name", name_at);

        const size_t dims_at = c.pos();
        uint32_t n_dims = c.u32("dimension count");
        if (n_dims < 1 || n_dims > kMaxDims)
            c.fail("dimension count " + std::to_string(n_dims) + " is outside 1.." +
                       std::to_string(kMaxDims),
                   dims_at);
        int64_t n = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const size_t at = c.pos();
            uint64_t ne = c.u64("dimension");
            // A zero-sized dimension is refused: an empty weight has no use in a model, and every
            // consumer may then rely on rows, cols and the byte size being positive.
            if (ne == 0) c.fail("dimension " + std::to_string(d) + " is 0", at);
            if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
                __builtin_mul_overflow(n, static_cast<int64_t>(ne), &n))
                c.fail("dimension " + std::to_string(d) + " = " + std::to_string(ne) +
                           " makes the element count overflow int64",
                       at);
            t.dims.push_back(static_cast<int64_t>(ne));
        }
        t.n_elements = n;

        const size_t type_at = c.pos();
        uint32_t raw_type = c.u32("tensor type");
        auto info = type_info(raw_type);
        if (!info) c.fail("unknown tensor type id " + std::to_string(raw_type), type_at);
        t.type = info->type;
        if (t.dims[0] % info->block_size != 0)
            c.fail("dimension 0 = " + std::to_string(t.dims[0]) + " is not a multiple of the " +
                       std::string(info->name) + " block size " + std::to_string(info->block_size),
                   dims_at);
        uint64_t bytes = 0;
        if (__builtin_mul_overflow(static_cast<uint64_t>(n / info->block_size),
                                   uint64_t{info->block_bytes}, &bytes) ||
            bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            c.fail("data size of " + std::to_string(n) + " " + std::string(info->name) +
                       " elements overflows int64",
                   dims_at);
        t.n_bytes = static_cast<size_t>(bytes);

        const size_t off_at = c.pos();
        t.offset = c.u64("tensor data offset");
        if (t.offset % alignment != 0)
            c.fail("data offset " + std::to_string(t.offset) +
                       " is not a multiple of the alignment " + std::to_string(alignment),
                   off_at);
        tensor_index.emplace(t.name, tensors.size());
        tensors.push_back(std::move(t));
    }
}

void GgufFile::Impl::check_tensor_data() {
    const uint64_t data_bytes = size > data_offset ? size - data_offset : 0;
    for (const auto& t : tensors) {
        if (metadata_only) {
            // Only the layout is checked; data past the end is expected in a cut-off file.
            if (t.offset > data_bytes || t.n_bytes > data_bytes - t.offset) has_data = false;
            if (t.offset > (uint64_t{1} << 62))
                throw Error(path + ": tensor " + quoted(t.name) + ": data offset " +
                            std::to_string(t.offset) + " is implausibly large");
            continue;
        }
        // n_bytes <= INT64_MAX was checked, so these sums cannot overflow once offset <=
        // data_bytes.
        if (t.offset > data_bytes)
            throw Error(path + ": tensor " + quoted(t.name) + ": data offset " +
                        std::to_string(t.offset) + " is past end of file (data section starts at " +
                        std::to_string(data_offset) + ", file is " + std::to_string(size) +
                        " bytes)");
        if (t.n_bytes > data_bytes - t.offset)
            throw Error(path + ": tensor " + quoted(t.name) + ": data " +
                        range(data_offset + t.offset, data_offset + t.offset + t.n_bytes) +
                        " runs past end of file (" + std::to_string(size) + " bytes)");
    }
    std::vector<const GgufTensorInfo*> order;
    for (const auto& t : tensors) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < order.size(); ++i) {
        const GgufTensorInfo& a = *order[i - 1];
        const GgufTensorInfo& b = *order[i];
        if (a.offset + a.n_bytes > b.offset)
            throw Error(path + ": tensor " + quoted(b.name) + ": data " +
                        range(data_offset + b.offset, data_offset + b.offset + b.n_bytes) +
                        " overlaps the data of tensor " + quoted(a.name) + " " +
                        range(data_offset + a.offset, data_offset + a.offset + a.n_bytes));
    }
}

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::open(const std::string& path, GgufOpen mode) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->metadata_only = mode == GgufOpen::MetadataOnly;
    const int fd = open_regular_file(path);  // a FIFO or device is refused, not waited on
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        throw Error(path + ": cannot stat: " + std::strerror(e));
    }
    impl->size = static_cast<size_t>(st.st_size);
    if (impl->size == 0) {
        ::close(fd);
        throw Error(path + ": file is empty (0 bytes); not a GGUF file");
    }
    void* m = mmap(nullptr, impl->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    ::close(fd);  // the mapping keeps the file alive
    if (m == MAP_FAILED)
        throw Error(path + ": cannot map " + std::to_string(impl->size) +
                    " bytes: " + std::strerror(e));
    impl->map = m;
    impl->map_len = impl->size;
    impl->base = static_cast<const uint8_t*>(m);
    impl->parse();
    return GgufFile(std::move(impl));
}

GgufFile GgufFile::from_parts(std::string name, std::vector<GgufKV> metadata,
                              std::vector<GgufTensorPart> parts,
                              std::shared_ptr<const void> owner) {
    auto impl = std::make_unique<Impl>();
    impl->path = std::move(name);
    impl->version = 3;
    impl->owner = owner ? std::move(owner) : std::make_shared<int>(0);
    for (auto& kv : metadata) {
        if (kv.key.empty() || kv.key.size() > kMaxKeyBytes)
            throw Error(impl->path + ": metadata key " + quoted(kv.key) + ": length must be 1.." +
                        std::to_string(kMaxKeyBytes));
        if (impl->kv_index.count(kv.key))
            throw Error(impl->path + ": metadata key " + quoted(kv.key) + ": duplicate key");
        impl->kv_index.emplace(kv.key, impl->kv.size());
        impl->kv.push_back(std::move(kv));
    }
    // A view has no data section to align; a writer of the view picks its own alignment.
    if (impl->kv_index.count("general.alignment"))
        throw Error(impl->path + ": metadata key 'general.alignment' has no meaning in a view");
    uint64_t offset = 0;
    for (auto& p : parts) {
        const std::string who = impl->path + ": tensor " + quoted(p.name) + ": ";
        if (p.name.empty() || p.name.size() > kMaxTensorName)
            throw Error(who + "name must be 1.." + std::to_string(kMaxTensorName) + " bytes");
        if (impl->tensor_index.count(p.name)) throw Error(who + "duplicate tensor name");
        if (p.dims.empty() || p.dims.size() > kMaxDims)
            throw Error(who + "dimension count " + std::to_string(p.dims.size()) +
                        " is outside 1.." + std::to_string(kMaxDims));
        if (!p.data) throw Error(who + "no data");
        GgufTensorInfo t;
        t.name = std::move(p.name);
        t.type = p.type;
        t.dims = std::move(p.dims);
        int64_t n = 1;
        for (int64_t d : t.dims)
            if (d < 1 || __builtin_mul_overflow(n, d, &n))
                throw Error(who + "dimension " + std::to_string(d) + " is not >= 1 or overflows");
        const TypeInfo& info = type_info(t.type);
        if (t.dims[0] % info.block_size != 0)
            throw Error(who + "dimension 0 = " + std::to_string(t.dims[0]) +
                        " is not a multiple of the " + std::string(info.name) + " block size");
        t.n_elements = n;
        if (__builtin_mul_overflow(static_cast<size_t>(n / info.block_size),
                                   size_t{info.block_bytes}, &t.n_bytes))
            throw Error(who + "byte size overflows");
        t.offset = offset;
        offset += (t.n_bytes + kDefaultAlignment - 1) / kDefaultAlignment * kDefaultAlignment;
        impl->tensor_index.emplace(t.name, impl->tensors.size());
        impl->tensors.push_back(std::move(t));
        impl->part_data.push_back(p.data);
    }
    impl->size = static_cast<size_t>(offset);
    return GgufFile(std::move(impl));
}

GgufFile GgufFile::parse(std::span<const uint8_t> bytes, std::string name) {
    auto impl = std::make_unique<Impl>();
    impl->path = std::move(name);
    impl->base = bytes.data();
    impl->size = bytes.size();
    impl->parse();
    return GgufFile(std::move(impl));
}

const std::string& GgufFile::path() const { return impl_->path; }
uint32_t GgufFile::version() const { return impl_->version; }
uint64_t GgufFile::alignment() const { return impl_->alignment; }
size_t GgufFile::file_size() const { return impl_->size; }
size_t GgufFile::data_offset() const { return impl_->data_offset; }
bool GgufFile::has_tensor_data() const { return impl_->has_data; }
const std::vector<GgufKV>& GgufFile::metadata() const { return impl_->kv; }
const std::vector<GgufTensorInfo>& GgufFile::tensors() const { return impl_->tensors; }

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = impl_->kv_index.find(key);
    return it == impl_->kv_index.end() ? nullptr : &impl_->kv[it->second].value;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    auto it = impl_->tensor_index.find(name);
    return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

const uint8_t* GgufFile::tensor_data(const GgufTensorInfo& t) const {
    if (impl_->owner) {  // a view: the tensor must be one of ours
        const auto& ts = impl_->tensors;
        if (ts.empty() || &t < ts.data() || &t >= ts.data() + ts.size())
            throw Error(impl_->path + ": tensor " + quoted(t.name) +
                        " is not a tensor of this model");
        return impl_->part_data[static_cast<size_t>(&t - ts.data())];
    }
    // Guards against an info that belongs to another file; this file's infos were all checked.
    const size_t data_bytes =
        impl_->size > impl_->data_offset ? impl_->size - impl_->data_offset : 0;
    if (t.offset > data_bytes || t.n_bytes > data_bytes - t.offset) {
        if (impl_->metadata_only)
            throw Error(
                impl_->path + ": tensor " + quoted(t.name) +
                ": data is not in the file (opened for metadata only; the file is cut off at " +
                std::to_string(impl_->size) + " bytes)");
        throw Error(impl_->path + ": tensor " + quoted(t.name) + " is not a tensor of this file");
    }
    return impl_->base + impl_->data_offset + t.offset;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_int()) impl_->wrong_type(key, v->type, "an integer");
    if (v->type == GgufType::UINT64) {
        uint64_t x = std::get<uint64_t>(v->v);
        if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            impl_->fail_key(key, "UINT64 value " + std::to_string(x) + " does not fit in int64");
        return static_cast<int64_t>(x);
    }
    return std::get<int64_t>(v->v);
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->is_float()) return std::get<double>(v->v);
    if (v->type == GgufType::UINT64) return static_cast<double>(std::get<uint64_t>(v->v));
    if (v->is_int()) return static_cast<double>(std::get<int64_t>(v->v));
    impl_->wrong_type(key, v->type, "a number");
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufType::BOOL) impl_->wrong_type(key, v->type, "BOOL");
    return std::get<bool>(v->v);
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufType::STRING) impl_->wrong_type(key, v->type, "STRING");
    return std::get<std::string>(v->v);
}

const GgufArray* GgufFile::get_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return nullptr;
    if (v->type != GgufType::ARRAY) impl_->wrong_type(key, v->type, "ARRAY");
    return &std::get<GgufArray>(v->v);
}

namespace {
template <class T>
T required(const GgufFile& f, std::string_view key, std::optional<T> v) {
    if (!v) throw Error(f.path() + ": missing required key " + quoted(key));
    return std::move(*v);
}
}  // namespace

int64_t GgufFile::require_int(std::string_view key) const {
    return required(*this, key, get_int(key));
}
double GgufFile::require_float(std::string_view key) const {
    return required(*this, key, get_float(key));
}
std::string GgufFile::require_string(std::string_view key) const {
    return required(*this, key, get_string(key));
}

}  // namespace gb
