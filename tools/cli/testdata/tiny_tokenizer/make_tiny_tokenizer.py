"""Writes tools/cli/testdata/tiny_tokenizer/tokenizer.json: a byte-level BPE tokenizer of 509 ids
(the vocabulary size of the tests/fixtures/lite checkpoint) trained by Hugging Face `tokenizers`
(0.23.3) on the start of tests/fixtures/tokenizers/corpus.txt, with <pad>, <bos>, <eos> at ids 0, 1,
2 (the lite config's pad/bos/eos). The CLI tests pair it with the lite checkpoint so that
`dsv2 generate --prompt` runs on a checkpoint directory that has a tokenizer.json; expected.json
holds what `tokenizers` says about it (the tests' references).

    python3 make_tiny_tokenizer.py      # needs `pip install tokenizers==0.23.3`
"""
import json
import os

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "..", "..", "tests", "fixtures", "tokenizers", "corpus.txt")

tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.post_processor = processors.ByteLevel(trim_offsets=False)
trainer = trainers.BpeTrainer(vocab_size=509, special_tokens=["<pad>", "<bos>", "<eos>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
with open(CORPUS, encoding="utf-8") as f:
    text = f.read()[:20000]
tok.train_from_iterator([text], trainer)
assert tok.get_vocab_size() == 509, tok.get_vocab_size()
tok.save(os.path.join(HERE, "tokenizer.json"))

# references for the tests: the text of ids [5, 6, 7] (a prompt that encodes back to them) and the
# text of the lite checkpoint's greedy continuation of [5, 6, 7] (ids from transformers, see
# tools/cli/CMakeLists.txt generate_latent)
prompt = tok.decode([5, 6, 7])
assert tok.encode(prompt).ids == [5, 6, 7], tok.encode(prompt).ids
greedy = [347, 128, 72, 492, 424, 206, 56, 40]
expected = {
    "generator": "tools/cli/testdata/tiny_tokenizer/make_tiny_tokenizer.py",
    "prompt": prompt,
    "prompt_ids": [5, 6, 7],
    "greedy_ids": greedy,
    "greedy_text": tok.decode(greedy),
    "hello": {"text": "Hello world", "ids": tok.encode("Hello world").ids},
}
with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
    json.dump(expected, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(json.dumps(expected, ensure_ascii=False))
