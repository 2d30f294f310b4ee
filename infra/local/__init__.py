"""The local stack: the whole platform on one machine, no AWS account (`python -m infra.local`).

emulator   moto server in this process, DynamoDB serialised (serialise.py)
resources  table, queues (+DLQs), bus and the events tap, from infra/definitions.py
gateway    HTTP -> API Gateway REST proxy event -> function -> HTTP; auth.py mimics the authorizers
control    the /_local/* routes: tokens, jobs on demand, events seen, notifications delivered (deliveries.py)
pollers    SQS and DynamoDB stream event source mappings, also pumpable synchronously
scheduler  the cron schedules (EventBridge Scheduler)
runner     starts and stops all of the above; settings.py reads flags and LOYALTY_* variables
demo       the demo program seeded on first start
state      the optional state file and .local/stack.json; invoke.py runs one function against a stack
"""
