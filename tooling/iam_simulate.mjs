// Evaluates IAM requests with @cloud-copilot/iam-simulate (identity, resource and trust policies,
// permission boundaries, every condition operator). Reads a JSON list of simulations on stdin,
// writes a JSON list of {result, errors} on stdout. Called by tooling/iam_simulator.py.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const simulations = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const results = []
for (const simulation of simulations) {
  const outcome = await runSimulation(
    { serviceControlPolicies: [], resourceControlPolicies: [], identityPolicies: [], ...simulation },
    {}
  )
  results.push(
    outcome.resultType === 'error'
      ? { result: 'Error', errors: outcome.errors }
      : { result: outcome.overallResult, errors: null }
  )
}
process.stdout.write(JSON.stringify(results))
