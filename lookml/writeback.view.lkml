# Views over the hub's insert-only write-back tables (created by terraform;
# schemas in terraform/schemas/, the same columns as the embedded store).
# Rows are never updated: the latest row per order is the current
# classification, so a new decision shows up in Looker as soon as the execute
# asks Looker to refresh the query.

view: suspicious_marks {
  sql_table_name: `@{writeback_dataset}.suspicious_marks` ;;

  dimension: request_id {
    primary_key: yes
    hidden: yes
    type: string
    sql: ${TABLE}.request_id ;;
  }

  dimension: order_id {
    type: string
    sql: ${TABLE}.order_id ;;
  }

  dimension: classification {
    type: string
    sql: ${TABLE}.classification ;;
  }

  dimension: comment {
    type: string
    sql: ${TABLE}.comment ;;
  }

  dimension: acted_by {
    type: string
    sql: ${TABLE}.acted_by ;;
  }

  dimension: looker_instance {
    type: string
    sql: ${TABLE}.looker_instance ;;
  }

  dimension: webhook_id {
    type: string
    sql: ${TABLE}.webhook_id ;;
  }

  dimension_group: received {
    type: time
    timeframes: [raw, time, date, week, month]
    sql: ${TABLE}.received_at ;;
  }

  measure: count {
    type: count
    drill_fields: [order_id, classification, comment, acted_by, received_time]
  }
}

# The current classification of each order: the latest row wins.
view: latest_classification {
  derived_table: {
    sql:
      SELECT order_id, classification, comment, acted_by, received_at
      FROM (
        SELECT
          order_id, classification, comment, acted_by, received_at,
          ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY received_at DESC, request_id DESC) AS rn
        FROM `@{writeback_dataset}.suspicious_marks`
      )
      WHERE rn = 1 ;;
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

# Whole-query write-back (writeback_batch): one row per result row.
view: suspicious_marks_batch {
  sql_table_name: `@{writeback_dataset}.suspicious_marks_batch` ;;

  dimension: pk {
    primary_key: yes
    hidden: yes
    type: string
    sql: CONCAT(${TABLE}.request_id, '/', CAST(${TABLE}.row_index AS STRING)) ;;
  }

  dimension: request_id {
    type: string
    sql: ${TABLE}.request_id ;;
  }

  dimension: row_index {
    type: number
    sql: ${TABLE}.row_index ;;
  }

  dimension: key_field {
    type: string
    sql: ${TABLE}.key_field ;;
  }

  dimension: key_value {
    label: "Key"
    type: string
    sql: ${TABLE}.key_value ;;
  }

  dimension: classification {
    type: string
    sql: ${TABLE}.classification ;;
  }

  dimension: comment {
    type: string
    sql: ${TABLE}.comment ;;
  }

  dimension: acted_by {
    type: string
    sql: ${TABLE}.acted_by ;;
  }

  dimension: scheduled_plan_id {
    type: string
    sql: ${TABLE}.scheduled_plan_id ;;
  }

  dimension: query_id {
    type: string
    sql: ${TABLE}.query_id ;;
  }

  dimension: row_json {
    label: "Row (JSON)"
    type: string
    sql: TO_JSON_STRING(${TABLE}.row_json) ;;
  }

  dimension_group: received {
    type: time
    timeframes: [raw, time, date]
    sql: ${TABLE}.received_at ;;
  }

  measure: rows {
    type: count
  }
}
