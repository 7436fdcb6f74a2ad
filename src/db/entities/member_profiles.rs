//! The `member_profiles` view: the columns of `users` a tenant may read (no password
//! hash); on PostgreSQL it checks the reader's rights, so a tenant sees its members only.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "member_profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub email_verified_at: Option<DateTimeUtc>,
    pub is_platform_admin: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
