"""The pure core: functions of numpy arrays and frozen dataclasses. No pymilvus, no I/O."""
