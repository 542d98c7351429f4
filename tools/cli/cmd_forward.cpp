// dsv2 forward MODEL_DIR --ids "1,2,3;4,5,6" [--mask ...] [--positions ...]
//              [--head causal-lm|classification] [--hidden-states] [--threads N] --out OUT.safetensors
// Runs one forward and writes `logits` (F32; [B,S,vocab] or [B,num_labels]) and, with
// --hidden-states, hidden_states.0 .. hidden_states.L, so that any other implementation can be
// compared with dsv2 on any checkpoint.
#include <iostream>

#include <dsv2/model.hpp>

#include "cli.hpp"
#include "options.hpp"

namespace dsv2::cli {

int run_forward(args_t args) {
    const auto opts = parse_options(args, {"--ids", "--mask", "--positions", "--head", "--out", "--threads"}, {"--hidden-states"});
    if (opts.positional.size() != 1) throw usage_error(opts.positional.empty() ? "missing MODEL_DIR" : "expected one MODEL_DIR");
    const auto ids_text = opts.get("--ids");
    if (!ids_text) throw usage_error("missing --ids");
    const auto out_path = opts.get("--out");
    if (!out_path) throw usage_error("missing --out OUT.safetensors");
    const std::string head = opts.get("--head").value_or("causal-lm");
    if (head != "causal-lm" && head != "classification")
        throw usage_error("--head: '" + head + "' is neither causal-lm nor classification");

    apply_threads(opts);
    const auto ids = parse_matrix(*ids_text, "--ids");
    std::optional<tensor<std::int64_t>> mask, positions;
    if (auto m = opts.get("--mask")) mask = parse_matrix(*m, "--mask");
    if (auto p = opts.get("--positions")) positions = parse_matrix(*p, "--positions");
    const forward_args fa{.input_ids = &ids,
                          .attention_mask = mask ? &*mask : nullptr,
                          .position_ids = positions ? &*positions : nullptr,
                          .output_hidden_states = opts.has("--hidden-states")};
    const std::filesystem::path dir(opts.positional[0]);

    tensor<float> logits;
    std::vector<tensor<float>> hidden;
    if (head == "causal-lm") {
        auto out = DeepseekV2ForCausalLM<>::from_pretrained(dir).forward(fa);
        logits = std::move(out.logits);
        hidden = std::move(out.hidden_states);
    } else {
        auto out = DeepseekV2ForSequenceClassification<>::from_pretrained(dir).forward(fa);
        logits = std::move(out.logits);
        hidden = std::move(out.hidden_states);
    }
    std::vector<io::tensor_to_write> entries;
    auto add = [&](const std::string& name, const tensor<float>& t) {
        entries.push_back({name, dtype::f32, t.shape(), std::as_bytes(t.values())});
    };
    add("logits", logits);
    for (std::size_t i = 0; i < hidden.size(); ++i) add("hidden_states." + std::to_string(i), hidden[i]);
    io::write_safetensors(*out_path, entries, {{"format", "pt"}, {"producer", "dsv2 forward"}});
    std::cout << "wrote " << *out_path << ": logits " << to_string(logits.shape());
    if (!hidden.empty()) std::cout << ", " << hidden.size() << " hidden states " << to_string(hidden[0].shape());
    std::cout << "\n";
    return 0;
}

}  // namespace dsv2::cli
