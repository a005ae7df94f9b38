"""Getting the label fields into a collection: the plan, how it is applied, the shadow copy,
rollback and cleanup."""
