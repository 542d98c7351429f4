// Specs that name a (policy, backend) pair nobody implemented must not compile, and the error must
// be the hook's message. Built only by the compile_fail.* tests (tests/CMakeLists.txt), one case
// per DSV2_COMPILE_FAIL_CASE:
//   1  an attention policy without attention_impl<·, cpu>
//   2  a router policy without router_impl<·, cpu>
//   3  an expert-MLP policy without expert_mlp_impl<·, cpu>
//   4  a backend without backend_runtime
//   0  the control: the same file with the built-in policies compiles
#include <dsv2/model.hpp>

namespace {

struct unported_attention {
    static constexpr const char* name = "unported_attention";
};

struct unported_router {  // a complete policy: only its CPU hook is missing
    static constexpr const char* name = "unported_router";
    template <class S>
    using weights = dsv2::router_gate<S>;
    static void check(const dsv2::DeepseekV2Config&) {}
    static dsv2::routing_params params(const dsv2::DeepseekV2Config& cfg) { return dsv2::routing_params::from_config(cfg); }
};

struct unported_experts {
    static constexpr const char* name = "unported_experts";
    template <class S>
    using weights = dsv2::gated_mlp<S>;
    template <class S>
    static weights<S> allocate(const dsv2::DeepseekV2Config& cfg) {
        return dsv2::gated_mlp<S>::allocate(cfg.hidden_size, cfg.moe_intermediate_size, false);
    }
};

struct toy_backend {
    static constexpr const char* name = "toy";
};

struct spec : dsv2::default_spec {
#if DSV2_COMPILE_FAIL_CASE == 1
    using attention = unported_attention;
#elif DSV2_COMPILE_FAIL_CASE == 2
    using router = unported_router;
#elif DSV2_COMPILE_FAIL_CASE == 3
    using expert_mlp = unported_experts;
#elif DSV2_COMPILE_FAIL_CASE == 4
    using backend = toy_backend;
#endif
};

}  // namespace

int main() {
    const auto lm = dsv2::DeepseekV2ForCausalLM<spec>::from_config(dsv2::presets::deepseek_v2_lite(), 1);
    const dsv2::tensor<std::int64_t> ids({1, 1}, std::vector<std::int64_t>{1});
    return static_cast<int>(lm.forward({.input_ids = &ids}).logits.numel() > 0);
}
