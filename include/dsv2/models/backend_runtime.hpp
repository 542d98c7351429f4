// backend_runtime<Backend>: what a model keeps on its backend, and the forward pass it runs there.
//
// The model classes (decoder.hpp, causal_lm.hpp, sequence_classification.hpp) hold the loaded
// cpu_model_weights (the same loader serves every backend) and one backend_runtime<Spec::backend>:
//
//   backend_runtime<cpu>   nothing beyond the loaded weights: the CPU runs on them directly
//                          (models/cpu_runtime.hpp)
//   backend_runtime<cuda>  the weights uploaded once to the device, a stream and a cuBLAS handle
//                          (models/cuda/runtime.cuh, nvcc only)
//
// A runtime provides
//   visit_weights(f)                   f(weights on the backend)
//   begin(forward_batch) -> pass       one forward's state on the backend (its `hidden` type is
//                                      the [B·S, H] activations there)
//   make_cache<Cache>(cfg, B, model)   an empty cache of a layout that lives on the backend
// and the pass type is the first argument of the blocks the decoder calls, each overloaded per
// backend: embed_tokens, normed, normalize_inplace, add_residual, attention_block,
// feed_forward_block, to_host_tensor, project_rows.
#pragma once

namespace dsv2 {

template <class Backend>
class backend_runtime;

/// The cache layout an attention policy uses on a backend: the policy's own cache_type on the CPU;
/// other backends specialise this for their device-resident layouts.
template <class Backend, class Attention>
struct attention_cache {
    using type = typename Attention::cache_type;
};

template <class Backend, class Attention>
using attention_cache_t = typename attention_cache<Backend, Attention>::type;

}  // namespace dsv2
