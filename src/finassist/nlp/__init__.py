"""Language understanding: normalisation, intent routing, (later) sentiment, NER and PII."""
