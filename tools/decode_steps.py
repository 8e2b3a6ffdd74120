"""How many greedy decoding steps the generation tasks of a study need, per checkpoint: for
each task x prompt, the steps a batch would take if it stopped once every row has produced a
token holding a stop sequence, against the max_new steps it takes (batches formed as
`Inference.greedy` forms them). For choosing `max_new` and `cot_max_new_tokens`, and for
judging the early stop (docs/performance.md, "Evaluation").

    .venv/bin/python tools/decode_steps.py STUDY_DIR MODEL [STEP ...]
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from emergence.data.tokenizer import load_tokenizer
from emergence.evaluate.items import Task
from emergence.evaluate.kinds import KINDS
from emergence.evaluate.metrics import GENERATION
from emergence.model.inference import Inference, ParamsReader, load_model_config


def main() -> None:
    study, model = Path(sys.argv[1]), sys.argv[2]
    tok = load_tokenizer(study / "results/tokenizer/tokenizer.json")
    texts = [tok.decode([i]) for i in range(tok.get_vocab_size())]
    mdir = study / "results/models" / model
    mcfg = load_model_config(mdir)
    reader, inf = ParamsReader(mdir, mcfg), Inference(mcfg)
    groups = defaultdict(list)
    for f in sorted((study / "results/tasks").glob("*.json")):
        task = Task.from_dict(json.loads(f.read_text()))
        if KINDS[task.kind].scoring == GENERATION:
            for r in task.requests:
                groups[task.task, r.prompt, r.max_new, r.stops].append(tok.encode(r.text).ids)
    for step in [int(s) for s in sys.argv[3:]] or reader.steps:
        params = reader(step)
        for (task, prompt, max_new, stops), prompts in groups.items():
            tokens = inf.greedy(params, prompts, max_new)
            stop = np.zeros(mcfg.vocab_size, bool)
            stop[[i for i, t in enumerate(texts) if any(s and s in t for s in stops)]] = True
            room = mcfg.context - max_new
            order = sorted(range(len(prompts)), key=lambda i: len(prompts[i][-room:] or [0]))
            needed = 0
            for start in range(0, len(order), inf.batch_size):
                rows = tokens[order[start : start + inf.batch_size]]
                needed += max(int(np.argmax(stop[r])) + 1 if stop[r].any() else max_new for r in rows)
            taken = -(-len(prompts) // inf.batch_size) * max_new
            print(f"step {step} {task}/{prompt}, max_new {max_new}: {needed} of {taken} steps ({needed / taken:.0%})")


if __name__ == "__main__":
    main()
