// The event-stream decoder: line splitting across pieces, fields, dispatch on blank lines.
#include "app/remote/sse.h"

#include "kernels/error.h"

namespace gb::remote {

void SseDecoder::feed(std::string_view bytes, std::vector<SseEvent>& out) {
    // A UTF-8 byte-order mark at the very start is not part of the first line; it may itself
    // arrive split over pieces.
    if (!started_) {
        static constexpr std::string_view kBom = "\xEF\xBB\xBF";
        while (!bytes.empty() && bom_.size() < kBom.size() && bytes.front() == kBom[bom_.size()]) {
            bom_ += bytes.front();
            bytes.remove_prefix(1);
        }
        if (bom_.size() < kBom.size() && bytes.empty()) return;  // still could be one
        started_ = true;
        if (bom_.size() < kBom.size()) {  // it was not: those bytes are the line's
            const std::string held = std::move(bom_);
            bom_.clear();
            feed(held, out);
        }
    }
    size_t start = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
        const char c = bytes[i];
        if (c != '\r' && c != '\n') {
            after_cr_ = false;
            continue;
        }
        if (c == '\n' && after_cr_) {  // the LF of a CRLF whose CR ended the line already
            after_cr_ = false;
            start = i + 1;
            continue;
        }
        line_.append(bytes.substr(start, i - start));
        if (line_.size() > max_line_)
            throw Error("event stream: a line of more than " + std::to_string(max_line_) +
                        " bytes without a line break");
        line(line_, out);
        line_.clear();
        after_cr_ = c == '\r';
        start = i + 1;
    }
    line_.append(bytes.substr(start));
    if (line_.size() > max_line_)
        throw Error("event stream: a line of more than " + std::to_string(max_line_) +
                    " bytes without a line break");
}

void SseDecoder::line(std::string_view l, std::vector<SseEvent>& out) {
    if (l.empty()) {  // dispatch
        if (has_data_) {
            SseEvent e;
            e.event = std::move(event_);
            e.data = std::move(data_);
            if (!e.data.empty() && e.data.back() == '\n') e.data.pop_back();
            e.id = id_;
            out.push_back(std::move(e));
        }
        event_.clear();
        data_.clear();
        has_data_ = false;
        return;
    }
    if (l.front() == ':') {
        ++comments_;
        return;
    }
    std::string_view field = l, value;
    if (const size_t colon = l.find(':'); colon != std::string_view::npos) {
        field = l.substr(0, colon);
        value = l.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
        data_.append(value);
        data_ += '\n';
        has_data_ = true;
    } else if (field == "event") {
        event_.assign(value);
    } else if (field == "id") {
        if (value.find('\0') == std::string_view::npos) id_.assign(value);
    } else if (field == "retry") {
        int64_t v = 0;
        bool digits = !value.empty();
        for (char c : value) {
            if (c < '0' || c > '9') {
                digits = false;
                break;
            }
            v = v * 10 + (c - '0');
            if (v > (int64_t{1} << 40)) break;
        }
        if (digits) retry_ms_ = v;
    }  // other fields are ignored, as the standard says
}

}  // namespace gb::remote
