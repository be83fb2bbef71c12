# Example model wiring the action hub's LookML together.
connection: "bigquery"

include: "/*.view.lkml"
# The run ledger's explore and the "Action hub health" dashboard (generated, like the
# views of the built-in actions' tables: `hub generate-actions --builtin --lookml lookml`).
include: "/hub_runs.explore.lkml"
include: "/*.dashboard.lookml"

# Orders with their current classification: mark an order as suspicious on
# its id, and the refreshed query shows the new classification.
explore: orders {
  label: "Orders (with write-back)"

  join: latest_classification {
    type: left_outer
    relationship: one_to_one
    sql_on: ${orders.id} = ${latest_classification.order_id} ;;
  }
}

# The full history of decisions.
explore: suspicious_marks {
  label: "Suspicious marks (history)"
}

explore: suspicious_marks_batch {
  label: "Whole-query write-back"
}

# Send users to RudderStack: Identify (user_id, email), Group (rudder_group_id)
# and Track act on queries from this explore.
explore: rudder_users {
  label: "Users for RudderStack"
  tags: ["user_id", "email", "rudder_group_id"]
}
