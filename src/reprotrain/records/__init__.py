"""The records a run writes and reads: the manifest, what each output was made from,
signatures, attestations and the conditions each job ran under."""
