"""Stream architecture: the Kinesis consumer that hands each batch to the scoring workflow."""
