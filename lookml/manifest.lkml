# Project constants: point them at the dataset terraform created
# (terraform output bigquery_tables).
constant: writeback_dataset {
  value: "looker_writeback"
  export: override_optional
}

constant: orders_table {
  value: "ecommerce.orders"
  export: override_optional
}
