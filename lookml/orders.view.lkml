# Example view: the order id dimension carries the tag that makes the
# "Mark as Suspicious" cell action appear on every order id in Looker.
view: orders {
  sql_table_name: `@{orders_table}` ;;

  dimension: id {
    label: "Order ID"
    primary_key: yes
    type: string
    sql: CAST(${TABLE}.id AS STRING) ;;
    tags: ["mark-suspicious"]
  }

  dimension: user_id {
    type: string
    sql: CAST(${TABLE}.user_id AS STRING) ;;
  }

  dimension: status {
    type: string
    sql: ${TABLE}.status ;;
  }

  dimension_group: created {
    type: time
    timeframes: [raw, time, date, week, month]
    sql: ${TABLE}.created_at ;;
  }

  measure: count {
    type: count
    drill_fields: [id, status, created_date]
  }
}
