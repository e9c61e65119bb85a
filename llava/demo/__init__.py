"""The embedded demo: synthetic shape data, the DUET-vs-baseline run of scripts/finetune_duet.sh, and its evaluation."""
