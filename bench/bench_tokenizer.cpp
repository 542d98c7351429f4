// dsv2::tokenizer speed on one core: encode English (the first ~100 KB of tinyshakespeare from
// tests/fixtures/tokenizers/corpus.txt) and mixed scripts, and decode, with the real DeepSeek
// tokenizer files. bytes_per_second is the text's UTF-8 size. encode/* repeats the same text (warm
// word and split caches, the steady state of a long run); encode_cold/* is the first encode after
// loading. Compare with Hugging Face
// `tokenizers` on the same text: tools/compare_tokenizers/compare.py.
//   build/release/bench/bench_tokenizer --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsv2/text/tokenizer.hpp"

namespace {

const std::string& fixture_dir() {
    static const std::string dir = std::string(DSV2_SOURCE_DIR) + "/tests/fixtures/tokenizers";
    return dir;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// "english" or "mixed": the byte range of corpus.txt that expected.json names long_<which>.
const std::string& text(const std::string& which) {
    static std::map<std::string, std::string> cache;
    auto it = cache.find(which);
    if (it != cache.end()) return it->second;
    const auto corpus = read_file(fixture_dir() + "/corpus.txt");
    const auto expected = nlohmann::json::parse(read_file(fixture_dir() + "/deepseek-v3/expected.json"));
    for (const auto& c : expected["long_cases"]) {
        if (c["name"] == "long_" + which) {
            const auto b = c["corpus_range"][0].get<std::size_t>(), e = c["corpus_range"][1].get<std::size_t>();
            return cache[which] = corpus.substr(b, e - b);
        }
    }
    throw std::runtime_error("no long_" + which + " case");
}

const dsv2::tokenizer& tok(const std::string& model) {
    static std::map<std::string, dsv2::tokenizer> loaded;
    auto it = loaded.find(model);
    if (it == loaded.end()) it = loaded.emplace(model, dsv2::tokenizer::from_directory(fixture_dir() + "/" + model)).first;
    return it->second;
}

void encode(benchmark::State& state, std::string model, std::string which) {
    const auto& t = tok(model);
    const auto& s = text(which);
    std::size_t n = 0;
    for (auto _ : state) {
        auto ids = t.encode(s, false);
        n = ids.size();
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.size()));
    state.counters["tokens"] = static_cast<double>(n);
}

/// The first encode with a freshly loaded tokenizer: empty word and split caches.
void encode_cold(benchmark::State& state, std::string model, std::string which) {
    const auto& s = text(which);
    std::vector<dsv2::tokenizer> fresh;  // destroyed after the loop, outside the timing
    for (auto _ : state) {
        state.PauseTiming();
        fresh.push_back(dsv2::tokenizer::from_directory(fixture_dir() + "/" + model));
        state.ResumeTiming();
        auto ids = fresh.back().encode(s, false);
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.size()));
}

void decode(benchmark::State& state, std::string model, std::string which) {
    const auto& t = tok(model);
    const auto& s = text(which);
    const auto ids = t.encode(s, false);
    for (auto _ : state) {
        auto out = t.decode(ids);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.size()));
    state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(ids.size() * state.iterations()),
                                                    benchmark::Counter::kIsRate);
}

void load(benchmark::State& state, std::string model) {
    for (auto _ : state) {
        auto t = dsv2::tokenizer::from_directory(fixture_dir() + "/" + model);
        benchmark::DoNotOptimize(&t);
    }
}

}  // namespace

BENCHMARK_CAPTURE(encode, v3_english, "deepseek-v3", "english")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, v3_mixed, "deepseek-v3", "mixed")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, v2_english, "deepseek-v2", "english")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode, v2_mixed, "deepseek-v2", "mixed")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode_cold, v3_english, "deepseek-v3", "english")->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_CAPTURE(encode_cold, v2_english, "deepseek-v2", "english")->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_CAPTURE(decode, v3_english, "deepseek-v3", "english")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode, v2_english, "deepseek-v2", "english")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(load, v3, "deepseek-v3")->Unit(benchmark::kMillisecond)->Iterations(3);

BENCHMARK_MAIN();
