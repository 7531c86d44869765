"""Helpers shared by the tests (imported as ``helpers.<module>``; conftest.py keeps only fixtures).

    checkpoints.py  a checkpoint file taken apart and put back edited, its checksum recomputed
    cli.py          tiny corpora texts, the tiny model options (TINY), run_cli, unigram_entropy
    ddp.py          `train --nproc N` for real: started in the background, its ranks and their sockets (/proc)
    errors.py       checks that a failure is one clean line, and folder snapshots
    hostile.py      hypothesis strategies for a forger's checkpoint metadata, and apply()
    inspector.py    tiny seeded checkpoints and Pilot helpers for the inspect / TUI tests
    reliability.py  the real CLI in a forked child, optionally unprivileged
    terminal.py     the real CLI on a pseudo-terminal (pty): its exact bytes, keys for full-screen apps
"""
