#!/usr/bin/env python3
"""Writes NaturalQuestions-open questions in the TriviaQA format that `smf finetune --data` and
`smf eval --target-facts` read ({"context": "Question: Q?\\nAnswer:", "answer", "aliases"}), so the learning recipe can
be checked on questions that are not in the TriviaQA file it was tuned on (docs/results.md, learner results).

    scripts/nq-as-triviaqa.py ../shared/data/benchmarks/nq_open_dev.jsonl --skip 1000 --count 100 > nq100.jsonl

Questions are taken in file order after --skip (the first ones feed the nq-f1 probe); the question gets a capital first
letter and a question mark, the first answer is the answer and every answer an alias. Items whose first answer is
longer than --max-answer-words are skipped (NQ answers are sometimes whole sentences)."""
import argparse, json, sys

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("path")
ap.add_argument("--skip", type=int, default=1000)
ap.add_argument("--count", type=int, default=100)
ap.add_argument("--max-answer-words", type=int, default=4)
a = ap.parse_args()
n = 0
with open(a.path, encoding="utf-8") as f:
    for i, line in enumerate(f):
        if i < a.skip or n >= a.count:
            continue
        item = json.loads(line)
        q, answers = item["question"].strip(), [s.strip() for s in item["answer"] if s.strip()]
        if not q or not answers or len(answers[0].split()) > a.max_answer_words:
            continue
        q = q[0].upper() + q[1:]
        if not q.endswith("?"):
            q += "?"
        print(json.dumps({"context": f"Question: {q}\nAnswer:", "answer": answers[0], "aliases": answers}, ensure_ascii=False))
        n += 1
if n < a.count:
    sys.exit(f"{a.path}: only {n} usable questions after --skip {a.skip}; lower --skip or --count")
