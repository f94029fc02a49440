"""Firehose architecture: the transformation Lambda that adds each record's score and decision."""
