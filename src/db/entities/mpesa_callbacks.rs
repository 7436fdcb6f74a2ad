use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mpesa_callbacks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub received_at: DateTimeUtc,
    pub tenant_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub source: Option<String>,
    pub body: String,
    pub status: String,
    pub flag: Option<String>,
    pub processed_at: Option<DateTimeUtc>,
    pub review_alerted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
