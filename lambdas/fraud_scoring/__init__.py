"""What every fraud scoring path shares: the transaction schema, the endpoint call and the decision.

`schema` is the one definition of a transaction and of the model's features (their order is the
model's column order); `scoring` turns a batch of transactions into one endpoint call and each
score into `approve`, `investigate` or `block`. The Lambdas import it, the state machine
definitions are generated from it and the transaction generator writes what it validates.
"""
