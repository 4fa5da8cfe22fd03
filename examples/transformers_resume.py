"""A Hugging Face Trainer run checkpointed by cairn, resumed exactly where it stopped.

    python examples/transformers_resume.py --dir runs/hf-demo    # train, or resume, to the end
    python examples/transformers_resume.py --dir runs/hf-demo --die-at-step 23   # dies like kill -9

Run it, kill it at any moment, run the same command again: the Trainer resumes from the newest
valid cairn checkpoint in --dir (model, AdamW, the warm-up/cosine schedule, the random
generators, the TrainerState with its global step and log history) and ends with the same
weights, byte for byte, as a run that never stopped (--final writes them to a file).

The two lines that switch cairn on are marked below: CairnTrainer instead of Trainer, and
train(resume_from_checkpoint=True). Everything else is an ordinary Trainer run: a tiny GPT-2
built from a config (nothing is downloaded) learns a synthetic sequence rule; it evaluates and
saves every 5 steps (inside the epochs and at their ends); cairn keeps the last 2 checkpoints
(save_total_limit) and the best by eval_loss (metric_for_best_model).

What makes the resumed run draw exactly what the uninterrupted one would: the Trainer's
sampler is seeded per epoch (data_seed + epoch), it skips the batches already trained on, and
the dropout generator comes back from the checkpoint; one CPU thread keeps float sums in order.
"""
import argparse
import os
import signal
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402

import cairn  # noqa: E402
import cairn.transformers  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True,
                        help="the Trainer's output_dir, where cairn's checkpoints go")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sequences", type=int, default=160, help="training sequences (8 a batch)")
    parser.add_argument("--save-steps", type=int, default=5)
    parser.add_argument("--gradient-accumulation-steps", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--greater-is-better", action="store_true",
                        help="rank eval_loss highest first: the best kept is the worst model, "
                             "which shows keep_best_k keeping an old checkpoint")
    parser.add_argument("--load-best-model-at-end", action="store_true")
    parser.add_argument("--die-at-step", type=int, default=None,
                        help="SIGKILL this process when global step N ends (a crash)")
    parser.add_argument("--final", help="write the final model state here (safetensors)")
    parser.add_argument("--default-writer", action="store_true",
                        help="the Trainer's own checkpoints instead of cairn's (for comparison)")
    return parser.parse_args(argv)


class Sequences(torch.utils.data.Dataset):
    """Token sequences following x[t+1] = (3 x[t] + 1) mod 128 from random starts, fixed by a
    seed; the model learns to predict the next token."""

    def __init__(self, count, seed, length=16):
        starts = torch.randint(0, 128, (count, 1), generator=torch.Generator().manual_seed(seed))
        self.tokens = torch.cat([(starts * 3 ** t + (3 ** t - 1) // 2) % 128
                                 for t in range(length)], dim=1)

    def __len__(self):
        return len(self.tokens)

    def __getitem__(self, index):
        return {"input_ids": self.tokens[index], "labels": self.tokens[index]}


class Announce(transformers.TrainerCallback):
    """Says where training starts (harness protocol) and dies at --die-at-step."""

    def __init__(self, trainer_ref, die_at_step):
        self.trainer_ref, self.die_at_step = trainer_ref, die_at_step

    def on_train_begin(self, args, state, control, **kwargs):
        resumed = getattr(self.trainer_ref[0], "cairn_resumed_from", None)
        if resumed is not None:
            print(f"resumed from {resumed.name} at step {state.global_step}")
        print(f"training from step {state.global_step} of {state.max_steps}", flush=True)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.die_at_step:
            print(f"dying after step {state.global_step}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)


def make_trainer(args):
    transformers.set_seed(args.seed)
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=128,
                                     n_positions=32)
    model = transformers.GPT2LMHeadModel(config)
    training_args = transformers.TrainingArguments(
        output_dir=args.dir, use_cpu=True, seed=args.seed, data_seed=args.seed,
        dataloader_num_workers=0, report_to="none", disable_tqdm=True,
        num_train_epochs=args.epochs, per_device_train_batch_size=8, per_device_eval_batch_size=32,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        learning_rate=3e-3, warmup_steps=5, lr_scheduler_type="cosine", weight_decay=0.01,
        eval_strategy="steps", eval_steps=args.save_steps, logging_steps=args.save_steps,
        save_strategy="steps", save_steps=args.save_steps, save_total_limit=2,
        metric_for_best_model="eval_loss", greater_is_better=args.greater_is_better,
        load_best_model_at_end=args.load_best_model_at_end)
    trainer_class = transformers.Trainer if args.default_writer else \
        cairn.transformers.CairnTrainer                  # <- cairn, line 1 of 2
    trainer_ref = []
    trainer = trainer_class(model=model, args=training_args,
                            train_dataset=Sequences(args.sequences, args.seed),
                            eval_dataset=Sequences(32, args.seed + 1),
                            callbacks=[Announce(trainer_ref, args.die_at_step)])
    trainer_ref.append(trainer)
    return trainer


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    trainer = make_trainer(args)
    resume = not args.default_writer
    output = trainer.train(resume_from_checkpoint=resume)  # <- cairn, line 2 of 2
    if args.final:
        cairn.save_file(trainer.model.state_dict(), args.final)
    print(f"done after {output.global_step} steps, best eval_loss {trainer.state.best_metric:.5f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
