"""Defaults of the fine-tuning spec, importable without loading anything (the CLI shows them)."""

TARGET_MODEL = "gpt-4o-mini-2024-07-18"  # fine-tunable; LiteLLM prices its fine-tuned form, ft:<model>
MONTHLY_VOLUME = 100_000  # classifications per month
EPOCHS = 3
MIN_EXAMPLES = 500
MIN_PER_CLASS = 10
VAL_FRACTION = 0.1
OUT_SUBDIR = "finetune"  # default output folder, inside the run folder
