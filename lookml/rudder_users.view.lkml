# Example for the RudderStack actions (Rudder Identify / Group / Track):
# the tags say which field is the user id, the email and the group id; every
# other visible field is sent as a trait / property named view.field.
view: rudder_users {
  sql_table_name: `@{orders_table}` ;;

  dimension: user_id {
    primary_key: yes
    type: string
    sql: CAST(${TABLE}.user_id AS STRING) ;;
    tags: ["user_id"]
  }

  dimension: email {
    type: string
    sql: ${TABLE}.email ;;
    tags: ["email"]
  }

  dimension: account_id {
    type: string
    sql: CAST(${TABLE}.account_id AS STRING) ;;
    tags: ["rudder_group_id"]
  }

  dimension: country {
    type: string
    sql: ${TABLE}.country ;;
  }

  measure: lifetime_orders {
    type: count_distinct
    sql: ${TABLE}.id ;;
  }
}
