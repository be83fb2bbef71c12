# The current classification of each order, for the orders explore: the
# generated suspicious_marks_current view (the latest row per order wins),
# with "Unreviewed" for orders nobody classified and a count of suspicious
# orders. suspicious_marks*.view.lkml are generated from the hub's built-in
# actions (`hub generate-actions --builtin --lookml lookml`): do not edit them.

view: latest_classification {
  derived_table: {
    sql:
      SELECT order_id, classification, comment, acted_by, received_at
      FROM ${suspicious_marks_current.SQL_TABLE_NAME} ;;
  }

  dimension: order_id {
    primary_key: yes
    type: string
    sql: ${TABLE}.order_id ;;
  }

  dimension: classification {
    type: string
    sql: COALESCE(${TABLE}.classification, 'Unreviewed') ;;
  }

  dimension: comment {
    type: string
    sql: ${TABLE}.comment ;;
  }

  dimension: classified_by {
    type: string
    sql: ${TABLE}.acted_by ;;
  }

  dimension_group: classified {
    type: time
    timeframes: [raw, time, date]
    sql: ${TABLE}.received_at ;;
  }

  measure: suspicious_orders {
    type: count_distinct
    sql: ${order_id} ;;
    filters: [classification: "Suspicious"]
  }
}
