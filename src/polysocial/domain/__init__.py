"""Domain types: dataclasses, value objects, events and errors. Standard library only, no I/O."""
