// The host side of the CUDA backend's headers, which needs no device and therefore runs (and
// passes or fails) on every machine, GPU or not: the error checks throw dsv2::cuda_error with the
// call, the status name and description, and file:line; device_available() agrees with the
// runtime and says why not; RAII wrappers without a device fail with cuda_error, never crash; the
// device weights tree (cuda_storage<W>) is allocated as shapes only, without touching the device.
// Its own main (no Catch2): a machine without a GPU must still run these checks.
#include <dsv2/backend/cuda/all.cuh>
#include <dsv2/model.hpp>

#include <cstdio>
#include <type_traits>
#include <string>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
    if (!ok) ++failures;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

cudaError_t returns(cudaError_t e) { return e; }
cublasStatus_t returns_status(cublasStatus_t s) { return s; }

void error_checks() {
    try {
        DSV2_CUDA_CHECK(returns(cudaErrorInvalidValue));
        check(false, "DSV2_CUDA_CHECK throws on an error");
    } catch (const dsv2::cuda_error& e) {
        const std::string m = e.what();
        check(contains(m, "returns(cudaErrorInvalidValue)"), "cuda_error names the call: " + m);
        check(e.status() == "cudaErrorInvalidValue", "cuda_error::status() is the error's name");
        check(contains(m, "invalid argument"), "cuda_error carries cudaGetErrorString");
        check(contains(e.where(), "test_cuda_host.cu:"), "cuda_error::where() is file:line: " + e.where());
    }
    try {
        DSV2_CUDA_CHECK(returns(cudaSuccess));
        check(true, "DSV2_CUDA_CHECK is silent on cudaSuccess");
    } catch (...) {
        check(false, "DSV2_CUDA_CHECK is silent on cudaSuccess");
    }
    try {
        DSV2_CUBLAS_CHECK(returns_status(CUBLAS_STATUS_INVALID_VALUE));
        check(false, "DSV2_CUBLAS_CHECK throws on an error");
    } catch (const dsv2::error& e) {  // the base class of every dsv2 exception
        const std::string m = e.what();
        check(dynamic_cast<const dsv2::cuda_error*>(&e) != nullptr, "cuBLAS failures are cuda_error");
        check(contains(m, "CUBLAS_STATUS_INVALID_VALUE") && contains(m, "returns_status"),
              "the cuBLAS message names the status and the call: " + m);
    }
    try {
        (void)dsv2::detail::cublas_int(std::int64_t{1} << 31, "K");
        check(false, "sizes beyond int are refused for cuBLAS");
    } catch (const dsv2::unsupported_error& e) {
        check(contains(e.what(), "K = 2147483648"), std::string("sizes beyond int are refused for cuBLAS: ") + e.what());
    }
    check(dsv2::detail::cuda_launch::grid_for(0, 256) == 1 && dsv2::detail::cuda_launch::grid_for(257, 256) == 2 &&
              dsv2::detail::cuda_launch::grid_for(std::int64_t{1} << 40, 256) == (1u << 20),
          "grid_for covers n with at least one block and at most 2^20");
}

void device_checks() {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    (void)cudaGetLastError();
    std::string reason;
    const bool available = dsv2::device_available(&reason);
    std::printf("device_available() = %s (%s)\n", available ? "true" : "false", reason.c_str());
    check(!reason.empty(), "device_available() gives a reason");
    if (err != cudaSuccess) {
        check(!available && contains(reason, cudaGetErrorName(err)),
              "without a driver/device, device_available() is false and names the runtime's error");
    } else if (count == 0) {
        check(!available, "with no device, device_available() is false");
    } else {
        check(available == contains(reason, "sm_"), "with a device, the reason names it (or why it is unusable)");
    }
    check(dsv2::device_available(nullptr) == available, "device_available() without a reason string agrees");

    // buffers without memory need no device; moves leave the source empty
    dsv2::device_buffer<float> empty(0, nullptr);
    dsv2::device_buffer<float> moved(std::move(empty));
    check(empty.empty() && moved.empty() && moved.data() == nullptr, "an empty device_buffer needs no device");
    if (!available) {
        bool threw = false;
        try {
            dsv2::stream s;
        } catch (const dsv2::cuda_error& e) {
            threw = true;
            std::printf("  (stream without a device: %s)\n", e.what());
        }
        check(threw, "without a device, creating a stream throws cuda_error");
    }
}

/// The weights tree over cuda_storage<W>: allocate() gives shapes only (no device memory, no CUDA
/// call), with the precision of each matrix from its type.
void storage_checks() {
    using host_weights = dsv2::spec_weights_t<dsv2::default_spec>;
    using bf16_weights = host_weights::rebind<dsv2::cuda_storage<__nv_bfloat16>>;
    dsv2::DeepseekV2Config cfg{.vocab_size = 50, .hidden_size = 32, .intermediate_size = 48, .num_hidden_layers = 2,
                               .num_attention_heads = 2, .first_k_dense_replace = 1, .kv_lora_rank = 16,
                               .n_routed_experts = 4, .n_shared_experts = 1, .qk_nope_head_dim = 8,
                               .qk_rope_head_dim = 4, .v_head_dim = 8, .num_experts_per_tok = 2,
                               .moe_intermediate_size = 12};
    const bf16_weights w = bf16_weights::allocate(cfg, dsv2::model_head::causal_lm);
    check(w.layers.size() == 2 && !w.layers[0].is_moe() && w.layers[1].is_moe(), "device tree: dense then MoE layers");
    check(w.embed_tokens.rows() == 50 && w.embed_tokens.cols() == 32 && w.embed_tokens.data() == nullptr,
          "device tree: shapes without device memory");
    check(w.norm.size() == 32 && w.norm.data() == nullptr, "device tree: vectors are shapes until uploaded");
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(w.layers[0].self_attn.kv_b_proj.weight)>,
                                 dsv2::cuda_matrix<float>>);  // fp32_kept
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(w.layers[0].self_attn.o_proj.weight)>,
                                 dsv2::cuda_matrix<__nv_bfloat16>>);
    const auto& moe = std::get<1>(w.layers[1].mlp);
    check(moe.experts.size() == 4 && moe.experts[3].intermediate_size() == 12 && moe.gate.weight.rows() == 4,
          "device tree: one gated MLP per routed expert, the router [E, H]");
    check(!w.layers[0].self_attn.o_proj.has_bias(), "device tree: no bias without attention_bias");
}

}  // namespace

int main() {
    error_checks();
    device_checks();
    storage_checks();
    std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
