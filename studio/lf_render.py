"""Render dataset rows exactly as LLaMA-Factory's trainer will see them. Runs in the train
environment (it imports llamafactory), called by studio/preview.py:

    <train python> -I studio/lf_render.py RESULT.json < request.json   (progress lines on stderr)

request: {"model", "template", "cutoff_len", "info": dataset_info entry, "records", "rows"}
result:  {"rows": [{"row", "length", "kept", "trained", "segments": [[text, trained?], ...]}]}
         (a preference pair: the chosen answer's, with the rejected one's under "rejected")
It uses LLaMA-Factory's own parser, converter, template and supervised (or pairwise) processor,
so the masks and the truncation are the training job's, not a re-implementation of them.
"""
import json
import sys

from llamafactory.data import get_template_and_fix_tokenizer
from llamafactory.data.converter import get_dataset_converter
from llamafactory.data.parser import get_dataset_list
from llamafactory.data.processor import PairwiseDatasetProcessor, SupervisedDatasetProcessor
from llamafactory.extras.constants import IGNORE_INDEX
from llamafactory.hparams import DataArguments
from transformers import AutoTokenizer


def segments(tokenizer, ids, labels):
    out, run, trained = [], [], None
    for tok, lab in zip(ids, labels):
        t = lab != IGNORE_INDEX
        if trained is not None and t != trained:
            out.append([tokenizer.decode(run), trained])
            run = []
        run.append(tok)
        trained = t
    if run:
        out.append([tokenizer.decode(run), trained])
    return out


def main():
    req = json.load(sys.stdin)
    tokenizer = AutoTokenizer.from_pretrained(req["model"], trust_remote_code=False)
    args = DataArguments(template=req["template"], cutoff_len=int(req["cutoff_len"]),
                         dataset="preview", dataset_dir=".")
    template = get_template_and_fix_tokenizer(tokenizer, args)
    attr = get_dataset_list(["preview"], {"preview": req["info"]})[0]
    convert = get_dataset_converter(attr.formatting, attr, args)
    full_args = DataArguments(template=req["template"], cutoff_len=10**9, dataset="preview",
                              dataset_dir=".")
    kind = PairwiseDatasetProcessor if req["info"].get("ranking") else SupervisedDatasetProcessor
    cut = kind(template=template, tokenizer=tokenizer, processor=None, data_args=args)
    full = kind(template=template, tokenizer=tokenizer, processor=None, data_args=full_args)
    rows = []
    total = len(req["rows"])
    print(f"STUDIO-PROGRESS 0 {total}", file=sys.stderr, flush=True)  # loaded: the rows come next
    for n, i in enumerate(req["rows"], start=1):
        ex = convert(req["records"][i])
        parts = (ex["_prompt"], ex["_response"], ex["_system"], ex["_tools"], [], [], [])
        # a pair encodes to (chosen ids, labels, rejected ids, labels); one answer to (ids, labels)
        encoded, whole = cut._encode_data_example(*parts), full._encode_data_example(*parts)
        row = None
        for k in range(0, len(encoded), 2):
            ids, labels = encoded[k], encoded[k + 1]
            one = {"row": i + 1, "length": len(whole[k]), "kept": len(ids),
                   "trained": sum(1 for x in labels if x != IGNORE_INDEX)}
            if req.get("segments", True):
                one["segments"] = segments(tokenizer, ids, labels)
            if row is None:
                row = one
            else:  # the trainer cuts both answers of a pair to the same length
                row["rejected"] = one
                row["length"] = max(row["length"], one["length"])
        rows.append(row)
        if n % 200 == 0 or n == total:  # read by studio/preview.py: the studio shows how far it got
            print(f"STUDIO-PROGRESS {n} {total}", file=sys.stderr, flush=True)
    # a file, not stdout: the libraries print their own messages there
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump({"rows": rows}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
