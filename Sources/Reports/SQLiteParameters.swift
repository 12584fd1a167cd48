import GRDB
import GRDBSQLite

func sqlite3BindParameterCount(_ statement: Statement) -> Int32 {
    sqlite3_bind_parameter_count(statement.sqliteStatement)
}

func sqlite3BindParameterName(_ statement: Statement, _ index: Int32) -> String? {
    sqlite3_bind_parameter_name(statement.sqliteStatement, index).map { String(cString: $0) }
}
