"""The default fine-tuning recipe after compression: the compress study's (docs/compress.md,
experiments/compress.py, 2026-12-06, three seeds). At 4x MACs, fine-tuned at 0.3x the training's rate
and distilled from the dense net, ResNet-18 needed 10 epochs, M11 20 and C3D-small 30 to land within a
point of the dense net; 0.1x the rate left C3D -2.6 points after 20 epochs (one seed). The longest of
the three is the default. Torch-free, so the CLI's ``--help`` can state it.
"""
FINETUNE_EPOCHS = 30
FINETUNE_LR_SCALE = 0.3
