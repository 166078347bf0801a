// The trace bundle (ANALYSIS_FORMAT.md, "Trace bundle") of a real reply of the demo MoE model:
// every file reads back to the numbers of the trace, counted here independently, and a folder
// that cannot be made is refused with its path.
#include "engine/trace/trace_bundle.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "engine/core/json.h"
#include "engine/trace/trace_analysis.h"
#include "engine/trace/trace_file.h"
#include "kernels/error.h"
#include "tests/test_support.h"

namespace gb {
namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// RFC 4180 records: fields split at commas outside quotes, "" inside quotes is one quote.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
    std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
    bool quoted = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                rows.back().back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                rows.back().back() += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            rows.back().emplace_back();
        } else if (c == '\n') {
            rows.emplace_back(1);
        } else {
            rows.back().back() += c;
        }
    }
    if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
    return rows;
}

TEST(TraceBundle, EveryFileReadsBackToTheTrace) {
    const Trace t = read_trace_file(test::fixture("analysis/moe_mul.json"));
    const auto dir = std::filesystem::temp_directory_path() /
                     ("gb_bundle_" + std::to_string(getpid())) / "nested";
    write_bundle(t, dir.string());

    // tokens.jsonl: line i is token i.
    std::istringstream lines(slurp(dir / "tokens.jsonl"));
    std::string line;
    size_t i = 0;
    for (; std::getline(lines, line); ++i) {
        ASSERT_LT(i, t.tokens.size());
        const json::Value v = json::parse(line);
        EXPECT_EQ(v.at("id").as_int64(), t.tokens[i].id);
        EXPECT_EQ(v.at("phase").as_string(), phase_name(t.tokens[i].phase));
        EXPECT_EQ(v.find("routing") != nullptr, !t.tokens[i].routing.empty());
    }
    EXPECT_EQ(i, t.tokens.size());

    // expert_usage.csv against a count made here.
    std::map<std::tuple<int, int, std::string>, int64_t> want;
    for (const TokenRecord& r : t.tokens)
        for (size_t row = 0; row < r.routing.n_layers(); ++row)
            for (uint16_t e : r.routing.experts_of(row))
                ++want[{r.routing.layers[row], e, phase_name(r.phase)}];
    const auto usage = parse_csv(slurp(dir / "expert_usage.csv"));
    ASSERT_FALSE(usage.empty());
    EXPECT_EQ(usage[0],
              (std::vector<std::string>{"layer", "expert", "phase", "count", "weight_sum"}));
    ASSERT_EQ(usage.size() - 1, want.size());
    for (size_t r = 1; r < usage.size(); ++r) {
        ASSERT_EQ(usage[r].size(), 5u);
        const auto key =
            std::make_tuple(std::stoi(usage[r][0]), std::stoi(usage[r][1]), usage[r][2]);
        EXPECT_EQ(std::stoll(usage[r][3]), want[key]) << r;
    }

    // steps.csv: the steps, texts intact (they hold newlines and commas).
    const ReasoningMap m = map_reasoning(t);
    const auto steps = parse_csv(slurp(dir / "steps.csv"));
    ASSERT_EQ(steps.size(), m.steps.size() + 1);
    for (size_t s = 0; s < m.steps.size(); ++s) {
        ASSERT_EQ(steps[s + 1].size(), 9u);
        EXPECT_EQ(std::stoi(steps[s + 1][1]), m.steps[s].first);
        EXPECT_EQ(std::stoi(steps[s + 1][3]), m.steps[s].count);
        EXPECT_EQ(steps[s + 1][8], m.steps[s].text);
    }
    EXPECT_NE(m.steps[0].text.find('\n'), std::string::npos);

    const json::Value a = test::load_json((dir / "analysis.json").string());
    EXPECT_EQ(a.at("format").as_string(), "glassbox-analysis");
    for (const std::string& f : bundle_files())
        EXPECT_FALSE(std::filesystem::exists(dir / (f + ".part")));

    // A second export into the same folder replaces the files.
    write_bundle(t, dir.string());
    EXPECT_EQ(slurp(dir / "steps.csv").size(), std::filesystem::file_size(dir / "steps.csv"));
    std::filesystem::remove_all(dir.parent_path());
}

TEST(TraceBundle, AFolderThatCannotBeMadeIsNamed) {
    const auto file =
        std::filesystem::temp_directory_path() / ("gb_bundle_file_" + std::to_string(getpid()));
    std::ofstream(file) << "x";
    Trace t;
    try {
        write_bundle(t, (file / "sub").string());
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    }
    std::filesystem::remove(file);
}

TEST(TraceBundle, CsvFieldsAreQuotedOnlyWhenNeeded) {
    EXPECT_EQ(csv_field("plain"), "plain");
    EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
    EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
}

}  // namespace
}  // namespace gb
