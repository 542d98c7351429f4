// dsv2 umbrella header: everything a host application needs.
//
//     #include <dsv2/model.hpp>
//     auto lm = dsv2::DeepseekV2ForCausalLM<>::from_pretrained("path/to/DeepSeek-V2-Lite");
#pragma once

#include "dsv2/version.hpp"
#include "dsv2/config.hpp"
#include "dsv2/core/dtype.hpp"
#include "dsv2/core/error.hpp"
#include "dsv2/core/tensor.hpp"
#include "dsv2/generation/byte_tokenizer.hpp"
#include "dsv2/generation/generate.hpp"
#include "dsv2/io/checkpoint.hpp"
#include "dsv2/io/config_json.hpp"
#include "dsv2/io/generation_config_json.hpp"
#include "dsv2/io/safetensors.hpp"
#include "dsv2/models/causal_lm.hpp"
#include "dsv2/models/decoder.hpp"
#include "dsv2/models/parameter_count.hpp"
#include "dsv2/models/presets.hpp"
#include "dsv2/models/sequence_classification.hpp"
#include "dsv2/models/spec.hpp"
