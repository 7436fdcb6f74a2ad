use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub provider: String,
    pub status: String,
    pub currency: String,
    pub amount_minor: i64,
    pub rounding_minor: i64,
    pub phone: String,
    pub merchant_request_id: Option<String>,
    pub checkout_request_id: Option<String>,
    pub receipt_number: Option<String>,
    pub result_code: Option<i32>,
    pub result_desc: Option<String>,
    pub paid_amount_minor: Option<i64>,
    pub paid_phone: Option<String>,
    pub flag: Option<String>,
    pub initiated_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    pub queried_at: Option<DateTimeUtc>,
    pub review_alerted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
