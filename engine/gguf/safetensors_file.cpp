// Safetensors reader: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and [begin, end) byte range in the data section that follows, and an optional
// "__metadata__" string map. As the format's own library does, the ranges must tile the data
// section exactly (no gaps, overlaps or trailing bytes); nothing is trusted before it is checked.
#include "engine/gguf/safetensors_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "engine/core/file_read.h"
#include "engine/core/json.h"
#include "kernels/error.h"

namespace gb {
namespace {

// The format's reference implementation refuses headers above 100 MB; so do we, before
// allocating anything for one.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kMaxDims = 8;
constexpr int kMaxJsonDepth = 8;  // object -> tensor -> shape: 3 levels are all a header needs

std::string qname(std::string_view s) {
    // Names come from the file: keep messages printable and short whatever the bytes are.
    std::string out = "'";
    for (size_t i = 0; i < s.size() && i < 120; ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (s.size() > 120) out += "...";
    return out + "'";
}

std::string range(uint64_t a, uint64_t b) {
    return "[" + std::to_string(a) + ", " + std::to_string(b) + ")";
}

struct Dtype {
    const char* name;
    bool supported;
    TensorType type;
};

// Every dtype the format defines; only the float types the engine computes with are read.
constexpr Dtype kDtypes[] = {
    {"F32", true, TensorType::F32},      {"F16", true, TensorType::F16},
    {"BF16", true, TensorType::BF16},    {"F64", false, TensorType::F32},
    {"BOOL", false, TensorType::F32},    {"U8", false, TensorType::F32},
    {"I8", false, TensorType::F32},      {"U16", false, TensorType::F32},
    {"I16", false, TensorType::F32},     {"U32", false, TensorType::F32},
    {"I32", false, TensorType::F32},     {"U64", false, TensorType::F32},
    {"I64", false, TensorType::F32},     {"F8_E4M3", false, TensorType::F32},
    {"F8_E5M2", false, TensorType::F32}, {"F8_E8M0", false, TensorType::F32},
    {"F6_E2M3", false, TensorType::F32}, {"F6_E3M2", false, TensorType::F32},
    {"F4", false, TensorType::F32},      {"C64", false, TensorType::F32},
};

}  // namespace

struct SafetensorsFile::Impl {
    std::string path;
    const uint8_t* base = nullptr;
    size_t size = 0;
    void* map = nullptr;
    size_t header_len = 0;
    std::vector<SafetensorsTensor> tensors;
    std::map<std::string, size_t, std::less<>> index;
    std::vector<std::pair<std::string, std::string>> metadata;

    ~Impl() {
        if (map) munmap(map, size);
    }
    [[noreturn]] void fail(const std::string& what) const { throw Error(path + ": " + what); }
    [[noreturn]] void fail_tensor(std::string_view name, const std::string& what) const {
        throw Error(path + ": tensor " + qname(name) + ": " + what);
    }
    void parse();
    void parse_tensor(const std::string& name, const json::Value& v, uint64_t data_size);
    void check_tiling(uint64_t data_size);
};

void SafetensorsFile::Impl::parse() {
    if (size < 8)
        fail("too small to be a safetensors file (" + std::to_string(size) +
             " bytes; the 8-byte header length alone needs 8)");
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= uint64_t{base[i]} << (8 * i);
    if (n == 0) fail("header length is 0; not a safetensors file");
    if (n > kMaxHeaderBytes)
        fail("header length " + std::to_string(n) + " exceeds the limit of " +
             std::to_string(kMaxHeaderBytes) + " bytes; not a safetensors file, or a damaged one");
    if (n > size - 8)
        fail("header length " + std::to_string(n) + " runs past end of file (" +
             std::to_string(size - 8) + " bytes follow the length)");
    header_len = static_cast<size_t>(n);
    const std::string_view text(reinterpret_cast<const char*>(base + 8), header_len);
    if (text[0] != '{')
        fail("the header does not start with '{' (byte 8 is " +
             std::to_string(static_cast<unsigned>(base[8])) + "); not a safetensors file");
    json::Value root;
    try {
        root = json::parse(text, kMaxJsonDepth);
    } catch (const Error& e) {
        fail(std::string("JSON header (byte offsets count from file byte 8): ") + e.what());
    }
    if (root.kind() != json::Value::Kind::Object) fail("the JSON header is not an object");

    const uint64_t data_size = size - 8 - header_len;
    for (const auto& [name, v] : root.as_object()) {
        if (name == "__metadata__") {
            if (v.kind() != json::Value::Kind::Object)
                fail("\"__metadata__\" is " + std::string(json::kind_name(v.kind())) +
                     ", expected an object of strings");
            for (const auto& [k, s] : v.as_object()) {
                if (s.kind() != json::Value::Kind::String)
                    fail("\"__metadata__\" entry " + qname(k) + " is " + json::kind_name(s.kind()) +
                         ", expected a string");
                metadata.emplace_back(k, s.as_string());
            }
            continue;
        }
        parse_tensor(name, v, data_size);
    }
    check_tiling(data_size);
    for (size_t i = 0; i < tensors.size(); ++i) index.emplace(tensors[i].name, i);
}

void SafetensorsFile::Impl::parse_tensor(const std::string& name, const json::Value& v,
                                         uint64_t data_size) {
    using K = json::Value::Kind;
    if (name.empty()) fail("a tensor has an empty name");
    if (v.kind() != K::Object)
        fail_tensor(name, std::string("entry is ") + json::kind_name(v.kind()) +
                              ", expected an object with dtype, shape and data_offsets");
    for (const auto& [k, x] : v.as_object()) {
        (void)x;
        if (k != "dtype" && k != "shape" && k != "data_offsets")
            fail_tensor(name, "unknown field " + qname(k) +
                                  " (a tensor entry has dtype, shape and data_offsets)");
    }
    auto field = [&](const char* key, K kind) -> const json::Value& {
        const json::Value* f = v.find(key);
        if (!f) fail_tensor(name, std::string("missing field \"") + key + "\"");
        if (f->kind() != kind)
            fail_tensor(name, std::string("field \"") + key + "\" is " +
                                  json::kind_name(f->kind()) + ", expected " +
                                  json::kind_name(kind));
        return *f;
    };
    // A non-negative integer written as an integer literal (no 1e3, no 2.0).
    auto count = [&](const json::Value& x, const std::string& what) -> uint64_t {
        if (x.kind() != K::Number) fail_tensor(name, what + " is not a number");
        try {
            return x.as_uint64();
        } catch (const Error&) {
            fail_tensor(name, what + " is not a non-negative integer that fits in 64 bits");
        }
    };

    SafetensorsTensor t;
    t.name = name;
    t.file = path;
    const std::string& dtype = field("dtype", K::String).as_string();
    const Dtype* dt = nullptr;
    for (const Dtype& d : kDtypes)
        if (dtype == d.name) dt = &d;
    if (!dt) fail_tensor(name, "unknown dtype " + qname(dtype));
    if (!dt->supported)
        fail_tensor(name, "dtype " + dtype +
                              " is not supported (the engine reads F32, F16 and BF16 "
                              "checkpoints; dequantise FP8 or integer weights first)");
    t.type = dt->type;
    const size_t elem = type_info(t.type).block_bytes;

    const auto& shape = field("shape", K::Array).as_array();
    if (shape.size() > kMaxDims)
        fail_tensor(name, "shape has " + std::to_string(shape.size()) +
                              " dimensions, more than the " + std::to_string(kMaxDims) +
                              " supported");
    int64_t n = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
        const uint64_t d = count(shape[i], "shape dimension " + std::to_string(i));
        // As in the GGUF reader: no empty tensors, so rows, cols and sizes are always positive.
        if (d == 0) fail_tensor(name, "shape dimension " + std::to_string(i) + " is 0");
        if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
            __builtin_mul_overflow(n, static_cast<int64_t>(d), &n))
            fail_tensor(name, "shape dimension " + std::to_string(i) + " = " + std::to_string(d) +
                                  " makes the element count overflow int64");
        t.shape.push_back(static_cast<int64_t>(d));
    }
    t.n_elements = n;
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(n), uint64_t{elem}, &bytes))
        fail_tensor(name, "byte size of " + std::to_string(n) + " elements overflows");

    const auto& offs = field("data_offsets", K::Array).as_array();
    if (offs.size() != 2)
        fail_tensor(name, "data_offsets has " + std::to_string(offs.size()) +
                              " entries, expected [begin, end]");
    const uint64_t begin = count(offs[0], "data_offsets begin");
    const uint64_t end = count(offs[1], "data_offsets end");
    if (end < begin)
        fail_tensor(name, "data_offsets " + range(begin, end) + " end before they begin");
    if (end > data_size)
        fail_tensor(name, "data " + range(begin, end) + " runs past the end of the data section (" +
                              std::to_string(data_size) + " bytes)");
    if (end - begin != bytes) {
        std::string dims;
        for (size_t i = 0; i < t.shape.size(); ++i)
            dims += (i ? ", " : "") + std::to_string(t.shape[i]);
        fail_tensor(name, "shape [" + dims + "] of " + dtype + " needs " + std::to_string(bytes) +
                              " bytes but data_offsets " + range(begin, end) + " hold " +
                              std::to_string(end - begin));
    }
    t.begin = begin;
    t.n_bytes = static_cast<size_t>(bytes);
    t.data = base + 8 + header_len + begin;
    tensors.push_back(std::move(t));
}

void SafetensorsFile::Impl::check_tiling(uint64_t data_size) {
    // The JSON parser refused duplicate keys, so names are unique here.
    std::stable_sort(tensors.begin(), tensors.end(),
                     [](const auto& a, const auto& b) { return a.begin < b.begin; });
    uint64_t at = 0;
    const SafetensorsTensor* prev = nullptr;
    for (const auto& t : tensors) {
        const uint64_t end = t.begin + t.n_bytes;
        if (t.begin < at)
            fail_tensor(t.name, "data " + range(t.begin, end) + " overlaps the data of tensor " +
                                    qname(prev->name) + " " + range(prev->begin, at));
        if (t.begin > at)
            fail_tensor(t.name, "data starts at " + std::to_string(t.begin) + " but the " +
                                    (prev ? "previous tensor " + qname(prev->name) + " ends"
                                          : std::string("data section starts")) +
                                    " at " + std::to_string(at) + ": bytes " + range(at, t.begin) +
                                    " belong to no tensor");
        at = end;
        prev = &t;
    }
    if (at != data_size)
        fail(std::to_string(data_size - at) + " bytes after the last tensor's data (data section " +
             range(at, data_size) +
             ") belong to no tensor; the file is damaged or was "
             "appended to");
}

SafetensorsFile::SafetensorsFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    const int fd = open_regular_file(path);  // a FIFO or device is refused, not waited on
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        ::close(fd);
        throw Error(path + ": cannot stat");
    }
    impl->size = static_cast<size_t>(st.st_size);
    if (impl->size == 0) {
        ::close(fd);
        throw Error(path + ": file is empty (0 bytes); not a safetensors file");
    }
    void* m = mmap(nullptr, impl->size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int e = errno;
    ::close(fd);  // the mapping keeps the file alive
    if (m == MAP_FAILED)
        throw Error(path + ": cannot map " + std::to_string(impl->size) +
                    " bytes: " + std::strerror(e));
    impl->map = m;
    impl->base = static_cast<const uint8_t*>(m);
    impl->parse();
    return SafetensorsFile(std::move(impl));
}

SafetensorsFile SafetensorsFile::parse(std::span<const uint8_t> bytes, std::string name) {
    auto impl = std::make_unique<Impl>();
    impl->path = std::move(name);
    impl->base = bytes.data();
    impl->size = bytes.size();
    impl->parse();
    return SafetensorsFile(std::move(impl));
}

const std::string& SafetensorsFile::path() const { return impl_->path; }
size_t SafetensorsFile::header_bytes() const { return impl_->header_len; }
const std::vector<SafetensorsTensor>& SafetensorsFile::tensors() const { return impl_->tensors; }
const std::vector<std::pair<std::string, std::string>>& SafetensorsFile::metadata() const {
    return impl_->metadata;
}
const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
    auto it = impl_->index.find(name);
    return it == impl_->index.end() ? nullptr : &impl_->tensors[it->second];
}

// ---- sharded checkpoints ----

namespace {

std::string read_text(const std::string& path) {
    return read_regular_file(path, size_t(64) << 20, "the shard index");
}

}  // namespace

SafetensorsSet SafetensorsSet::open(const std::string& path) {
    namespace fs = std::filesystem;
    SafetensorsSet set;
    set.path_ = path;
    std::string index_path;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        const fs::path dir(path);
        if (fs::exists(dir / "model.safetensors.index.json", ec)) {
            index_path = (dir / "model.safetensors.index.json").string();
        } else if (fs::exists(dir / "model.safetensors", ec)) {
            set.files_.push_back(SafetensorsFile::open((dir / "model.safetensors").string()));
            set.build_index();
            return set;
        } else {
            throw Error(path +
                        ": no model.safetensors or model.safetensors.index.json in the "
                        "directory");
        }
    } else if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
        index_path = path;
    } else {
        set.files_.push_back(SafetensorsFile::open(path));
        set.build_index();
        return set;
    }

    json::Value root;
    try {
        root = json::parse(read_text(index_path), 16);
    } catch (const Error& e) {
        throw Error(index_path + ": " + e.what());
    }
    const json::Value* map =
        root.kind() == json::Value::Kind::Object ? root.find("weight_map") : nullptr;
    if (!map || map->kind() != json::Value::Kind::Object)
        throw Error(index_path + ": no \"weight_map\" object (not a safetensors shard index)");
    const fs::path dir = fs::path(index_path).parent_path();
    std::map<std::string, size_t> shard_of_file;
    std::vector<std::pair<std::string, std::string>> listed;  // tensor, shard file
    for (const auto& [tensor, file] : map->as_object()) {
        if (file.kind() != json::Value::Kind::String)
            throw Error(index_path + ": weight_map entry for tensor " + qname(tensor) +
                        " is not a file name");
        const std::string& f = file.as_string();
        // Shards lie beside the index: a path elsewhere is refused, not followed.
        if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos ||
            f == "." || f == "..")
            throw Error(index_path + ": tensor " + qname(tensor) + " is in shard " + qname(f) +
                        ", which is not a plain file name beside the index");
        if (!shard_of_file.count(f)) {
            const std::string shard = (dir / f).string();
            if (!fs::exists(shard, ec))
                throw Error(index_path + ": tensor " + qname(tensor) + " is in shard " + qname(f) +
                            ", which does not exist (" + shard + ")");
            shard_of_file[f] = set.files_.size();
            set.files_.push_back(SafetensorsFile::open(shard));
        }
        listed.emplace_back(tensor, f);
    }
    if (listed.empty()) throw Error(index_path + ": \"weight_map\" lists no tensors");
    std::map<std::string_view, std::string_view> where;  // tensor -> the shard that holds it
    for (const auto& st : set.files_)
        for (const auto& t : st.tensors()) {
            auto [it, fresh] = where.emplace(t.name, st.path());
            if (!fresh)
                throw Error(index_path + ": tensor " + qname(t.name) + " is in two shards, " +
                            std::string(it->second) + " and " + st.path());
        }
    for (const auto& [tensor, f] : listed) {
        const SafetensorsFile& st = set.files_[shard_of_file[f]];
        if (!st.find(tensor))
            throw Error(index_path + ": tensor " + qname(tensor) + " is listed in shard " +
                        qname(f) + " but " + st.path() + " does not hold it");
    }
    if (where.size() != listed.size()) {
        std::map<std::string_view, bool> in_index;
        for (const auto& l : listed) in_index[l.first] = true;
        for (const auto& st : set.files_)
            for (const auto& t : st.tensors())
                if (!in_index.count(t.name))
                    throw Error(st.path() + ": tensor " + qname(t.name) +
                                " is not listed in the index " + index_path);
    }
    set.build_index();
    return set;
}

void SafetensorsSet::build_index() {
    // Tensors live in each file's heap-allocated state, so these pointers survive moves.
    for (const auto& f : files_)
        for (const auto& t : f.tensors()) index_.emplace(t.name, &t);
}

const SafetensorsTensor* SafetensorsSet::find(std::string_view name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : it->second;
}

std::vector<const SafetensorsTensor*> SafetensorsSet::tensors() const {
    std::vector<const SafetensorsTensor*> out;
    for (const auto& f : files_)
        for (const auto& t : f.tensors()) out.push_back(&t);
    return out;
}

}  // namespace gb
