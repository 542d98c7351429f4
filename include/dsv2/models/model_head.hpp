// Which head sits on the DeepSeek-V2 backbone.
#pragma once

namespace dsv2 {

/// none: DeepseekV2Model; causal_lm: DeepseekV2ForCausalLM (lm_head, or tied embeddings);
/// sequence_classification: DeepseekV2ForSequenceClassification (score).
enum class model_head { none, causal_lm, sequence_classification };

}  // namespace dsv2
