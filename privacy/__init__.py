"""Personal data under control (SPEC "Personal data"): masking texts before they are
stored (`masking`), forgetting them after TRANSCRIPT_DAYS (`retention`) or on request
(`erasure`), and a record of who read which transcript (`audit`)."""
