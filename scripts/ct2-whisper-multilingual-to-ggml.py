#!/usr/bin/env python3
"""CTranslate2 multilingual Whisper (faster-whisper layout) -> whisper.cpp ggml file.

  ct2-whisper-multilingual-to-ggml.py CT2_DIR MEL_SRC OUT.bin [--order openai|alt1|alt2]

The shared tool (../shared/tools/ct2-whisper-to-ggml.py, found via PARLANCE_SHARED_DIR) handles
English-only models only: it copies the hyper-parameters from a whisper.cpp test file and refuses
n_vocab != 51864. This extension reuses its reader, vocabulary writer, tensor unfusing and tensor
records (imported, not copied) and changes only what differs for multilingual models:
- hyper-parameters come from model.bin's own shapes, so one MEL_SRC serves every model size;
- MEL_SRC (whisper.cpp's for-tests-ggml-tiny.bin) gives only n_mel, n_fft and the 80x201 mel
  filters, which are the same for every Whisper model before large-v3;
- the vocabulary section holds the 50257 byte-level tokens (ids 0..50256, id 50256 is the empty
  token), as whisper.cpp's convert-pt-to-ggml.py wrote them from the multilingual tokenizer.
  whisper.cpp's loader names the remaining n_vocab - 50257 ids (<|endoftext|>, <|startoftranscript|>,
  languages, tasks, timestamps) itself and derives their ids from n_vocab, so they are checked
  here against the CT2 vocabulary instead of written.
Prints size, SHA-1 and SHA-256 of the result.
"""
import hashlib, importlib.util, os, re, struct, sys
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("PARLANCE_SHARED_DIR", os.path.join(HERE, "..", "..", "shared"))


def shared_tool():
    path = os.path.join(SHARED, "tools", "ct2-whisper-to-ggml.py")
    spec = importlib.util.spec_from_file_location("ct2_whisper_to_ggml", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


T = shared_tool()
GGML_MAGIC = 0x67676D6C
N_BYTE_TOKENS = 50257  # ids 0..50256 of the multilingual BPE; 50257 is <|endoftext|>


def special_ids(n_vocab):
    """The ids whisper.cpp's loader assigns to the special tokens for this n_vocab
    (whisper_vocab and its multilingual shift in whisper_model_load)."""
    n_langs = n_vocab - 51765 - 1
    dt = n_langs - 98
    ids = {"<|endoftext|>": 50257, "<|startoftranscript|>": 50258, "<|translate|>": 50357 + dt,
           "<|transcribe|>": 50358 + dt, "<|startoflm|>": 50359 + dt, "<|startofprev|>": 50360 + dt,
           "<|notimestamps|>": 50362 + dt, "<|0.00|>": 50363 + dt}
    return ids, n_langs


def check_vocab(toks, n_vocab):
    assert len(toks) == n_vocab, f"CT2 vocabulary has {len(toks)} tokens, model.bin {n_vocab}"
    ids, n_langs = special_ids(n_vocab)
    for tok, i in ids.items():
        assert toks[i] == tok, f"token {i} is {toks[i]!r}, whisper.cpp expects {tok}"
    nosp = ids["<|notimestamps|>"] - 1  # renamed from <|nocaptions|> in openai/whisper 2023
    assert toks[nosp] in ("<|nospeech|>", "<|nocaptions|>"), toks[nosp]
    langs = toks[50259:50259 + n_langs]
    assert langs[0] == "<|en|>" and all(re.fullmatch(r"<\|[a-z]{2,3}\|>", t) for t in langs), langs[:3]
    assert toks[-1] == "<|30.00|>" and n_vocab - ids["<|0.00|>"] == 1501, toks[-1]
    # Nothing special may hide among the byte tokens the file carries.
    assert not any(t.startswith("<|") and t.endswith("|>") for t in toks[:N_BYTE_TOKENS]), "special token below 50257"
    assert toks[N_BYTE_TOKENS - 1] == "", "id 50256 of the multilingual BPE is the empty token"


def hparams(V, n_enc, n_dec):
    n_vocab, n_text_state = V["decoder/embeddings/weight"].shape
    n_audio_ctx, n_audio_state = V["encoder/position_encodings/encodings"].shape
    n_text_ctx = V["decoder/position_encodings/encodings"].shape[0]
    n_mels = V["encoder/conv1/weight"].shape[1]
    n_audio_head = int(V["encoder/num_heads"])
    n_text_head = int(V["decoder/num_heads"])
    return [n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_enc,
            n_text_ctx, n_text_state, n_text_head, n_dec, n_mels, 1]  # ftype 1: f16 weights


def reorder(tensors, order):
    """The shared tool's --order variants (see its docstring), on its openai_tensors() list."""
    if order == "openai":
        return tensors
    t = tensors[1:5] + tensors[:1] + tensors[5:]  # conv before encoder positional embedding
    if order == "alt2":  # also token_embedding before decoder positional embedding
        i = [n for n, _ in t].index("decoder.positional_embedding")
        t[i], t[i + 1] = t[i + 1], t[i]
    elif order != "alt1":
        raise SystemExit(f"unknown --order {order}")
    return t


def convert(ct2_dir, mel_src, out, order="openai"):
    m = T.read_ct2(os.path.join(ct2_dir, "model.bin"))
    assert m["spec"] == "WhisperSpec", m["spec"]
    V = dict(m["variables"])
    for a, t in m["aliases"].items():
        V[a] = V[t]
    floats = [v.dtype for v in m["variables"].values() if v.ndim > 0]
    assert all(t == np.float16 for t in floats), "expected an all-float16 CT2 model (--quantization float16)"
    n_enc = len({k.split("/")[1] for k in V if re.match(r"encoder/layer_\d+/", k)})
    n_dec = len({k.split("/")[1] for k in V if re.match(r"decoder/layer_\d+/", k)})
    hp = hparams(V, n_enc, n_dec)
    assert hp[0] >= 51865, f"n_vocab {hp[0]}: not multilingual, use the shared tool"
    assert hp[1] == 1500 and hp[5] == 448 and hp[9] == 80, hp
    assert hp[2] == hp[6], "audio and text widths differ"
    toks = T.load_ct2_vocab(ct2_dir)
    check_vocab(toks, hp[0])

    pre = open(mel_src, "rb").read()
    src = struct.unpack_from("<12i", pre, 0)
    assert src[0] == GGML_MAGIC, "MEL_SRC is not a ggml Whisper file"
    n_mel, n_fft = struct.unpack_from("<2i", pre, 48)
    assert (n_mel, n_fft) == (80, 201), (n_mel, n_fft)
    mel = pre[48:48 + 8 + n_mel * n_fft * 4]

    tensors = reorder(T.openai_tensors(V, n_enc, n_dec, hp[2]), order)
    h = hashlib.sha1(); h2 = hashlib.sha256(); size = 0
    with open(out, "wb") as f:
        for chunk in [struct.pack("<12i", GGML_MAGIC, *hp), mel, T.ggml_vocab_section(toks, N_BYTE_TOKENS)]:
            f.write(chunk); h.update(chunk); h2.update(chunk); size += len(chunk)
        for name, a in tensors:
            rec = T.tensor_record(name, a)
            f.write(rec); h.update(rec); h2.update(rec); size += len(rec)
    return size, h.hexdigest(), h2.hexdigest()


if __name__ == "__main__":
    a = sys.argv[1:]
    order = "openai"
    if "--order" in a:
        i = a.index("--order"); order = a[i + 1]; del a[i:i + 2]
    if len(a) != 3:
        raise SystemExit(__doc__)
    print(*convert(a[0], a[1], a[2], order))
